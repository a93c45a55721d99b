package softhsm

import (
	"fmt"

	"github.com/miekg/pkcs11"
)

// KeyOptions describes an AES-256 key to create in a token.
type KeyOptions struct {
	// ID is the key's CKA_ID, unique in the token; keys are found by it.
	ID string
	// Label is the key's CKA_LABEL (KMS sets it to the key ARN).
	Label string
	// WrapWithTrusted lets the key be wrapped by a trusted key of the token
	// (and by nothing else), which is how keys are copied between the HSMs
	// of one cluster. Without it the key can never leave the token.
	WrapWithTrusted bool
}

// KeyInfo describes a key object found in a token.
type KeyInfo struct {
	ID    string
	Label string
}

func keyTemplate(opts KeyOptions) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, opts.WrapWithTrusted),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, opts.WrapWithTrusted),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(opts.ID)),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, opts.Label),
	}
}

func (t *Token) checkNewKeyID(s pkcs11.SessionHandle, id string) error {
	if id == "" {
		return fmt.Errorf("key ID is empty: %w", ErrInvalidParameter)
	}
	existing, err := t.findObjects(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id))})
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return fmt.Errorf("key %q: %w", id, ErrKeyExists)
	}
	return nil
}

// GenerateKey generates a persistent, sensitive AES-256 key inside the token.
func (t *Token) GenerateKey(opts KeyOptions) error {
	return t.withSession(func(s pkcs11.SessionHandle) error {
		if err := t.checkNewKeyID(s, opts.ID); err != nil {
			return err
		}
		template := append(keyTemplate(opts)[1:], pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32))
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
		h, err := t.module.ctx.GenerateKey(s, mech, template)
		if err != nil {
			return fmt.Errorf("generate key %q: %w", opts.ID, err)
		}
		t.handlesMu.Lock()
		t.handles[opts.ID] = h
		t.handlesMu.Unlock()
		return nil
	})
}

// WrapKey wraps the key keyID under the trusted key wrappingID with AES key
// wrap with padding (RFC 5649). Only keys made with WrapWithTrusted can be
// wrapped, and only by a trusted key.
func (t *Token) WrapKey(wrappingID, keyID string) ([]byte, error) {
	var wrapped []byte
	err := t.withSession(func(s pkcs11.SessionHandle) error {
		return t.withKey(s, wrappingID, func(wrapping pkcs11.ObjectHandle) error {
			return t.withKey(s, keyID, func(key pkcs11.ObjectHandle) error {
				mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}
				var err error
				wrapped, err = t.module.ctx.WrapKey(s, mech, wrapping, key)
				if err != nil {
					return fmt.Errorf("wrap key %q: %w", keyID, err)
				}
				return nil
			})
		})
	})
	return wrapped, err
}

// UnwrapKey unwraps a key wrapped by WrapKey (in this token or another token
// holding the same trusted key) and stores it under opts.
func (t *Token) UnwrapKey(wrappingID string, wrapped []byte, opts KeyOptions) error {
	return t.withSession(func(s pkcs11.SessionHandle) error {
		if err := t.checkNewKeyID(s, opts.ID); err != nil {
			return err
		}
		return t.withKey(s, wrappingID, func(wrapping pkcs11.ObjectHandle) error {
			mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}
			h, err := t.module.ctx.UnwrapKey(s, mech, wrapping, wrapped, keyTemplate(opts))
			if err != nil {
				if ckr(err) == pkcs11.CKR_WRAPPED_KEY_INVALID || ckr(err) == pkcs11.CKR_WRAPPED_KEY_LEN_RANGE || ckr(err) == pkcs11.CKR_GENERAL_ERROR {
					return fmt.Errorf("unwrap key %q: %w", opts.ID, ErrInvalidCiphertext)
				}
				return fmt.Errorf("unwrap key %q: %w", opts.ID, err)
			}
			t.handlesMu.Lock()
			t.handles[opts.ID] = h
			t.handlesMu.Unlock()
			return nil
		})
	})
}

// DeleteKey destroys every key object whose CKA_ID is id.
func (t *Token) DeleteKey(id string) error {
	return t.withSession(func(s pkcs11.SessionHandle) error {
		found, err := t.findObjects(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)),
		})
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("key %q: %w", id, ErrKeyNotFound)
		}
		t.forget(id)
		for _, h := range found {
			if err := t.module.ctx.DestroyObject(s, h); err != nil {
				return fmt.Errorf("delete key %q: %w", id, err)
			}
		}
		return nil
	})
}

// ListKeys returns the private keys of the token (its trusted and sealing
// keys are not listed).
func (t *Token) ListKeys() ([]KeyInfo, error) {
	var keys []KeyInfo
	err := t.withSession(func(s pkcs11.SessionHandle) error {
		found, err := t.findObjects(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		})
		if err != nil {
			return err
		}
		for _, h := range found {
			attrs, err := t.module.ctx.GetAttributeValue(s, h, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
				pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
			})
			if err != nil {
				return fmt.Errorf("read key attributes: %w", err)
			}
			keys = append(keys, KeyInfo{ID: string(attrs[0].Value), Label: string(attrs[1].Value)})
		}
		return nil
	})
	return keys, err
}
