package softhsm

import (
	"fmt"

	"github.com/miekg/pkcs11"
)

// KeyOptions describes an AES-256 key held by a token.
type KeyOptions struct {
	// ID is the key's CKA_ID, unique in the token; keys are found by it.
	ID string
	// Label is the key's CKA_LABEL (KMS sets it to the key ARN).
	Label string
}

// keyTemplate is the template of a loaded key: a private, sensitive AES key
// in the keeper session. extractable is true only while GenerateKey wraps
// the new key; even then only a trusted key can wrap it.
func keyTemplate(opts KeyOptions, extractable bool) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, extractable),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(opts.ID)),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, opts.Label),
	}
}

var wrapMechanism = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}

// withKeeper runs fn on the keeper session, which holds the loaded keys;
// objects made on it live as long as the token is open.
func (t *Token) withKeeper(fn func(s pkcs11.SessionHandle) error) error {
	t.keeperMu.Lock()
	defer t.keeperMu.Unlock()
	return fn(t.keeper)
}

// reserve checks that the token has no key with the ID id, loaded or in
// its key source; the keeper session is held, so no other key is being
// loaded meanwhile.
func (t *Token) reserve(id string) error {
	if id == "" {
		return fmt.Errorf("key ID is empty: %w", ErrInvalidParameter)
	}
	exists := t.loaded.has(id)
	if !exists && t.source != nil {
		_, _, err := t.source.WrappedKey(id)
		exists = err == nil
	}
	if exists {
		return fmt.Errorf("key %q: %w", id, ErrKeyExists)
	}
	return nil
}

// unwrap unwraps a key on the keeper session s as a loaded key.
func (t *Token) unwrap(s pkcs11.SessionHandle, wrappingID string, wrapped []byte, opts KeyOptions) (pkcs11.ObjectHandle, error) {
	var h pkcs11.ObjectHandle
	err := t.withOwnKey(s, wrappingID, func(wrapping pkcs11.ObjectHandle) error {
		var err error
		h, err = t.module.ctx.UnwrapKey(s, wrapMechanism, wrapping, wrapped, keyTemplate(opts, false))
		if err != nil {
			switch ckr(err) {
			case pkcs11.CKR_WRAPPED_KEY_INVALID, pkcs11.CKR_WRAPPED_KEY_LEN_RANGE, pkcs11.CKR_GENERAL_ERROR:
				// SoftHSM reports a failed integrity check as a general error.
				return fmt.Errorf("unwrap key %q: %w", opts.ID, ErrInvalidCiphertext)
			}
			return fmt.Errorf("unwrap key %q: %w", opts.ID, err)
		}
		return nil
	})
	return h, err
}

// GenerateKey generates a sensitive AES-256 key in the token and loads it
// under opts.ID. It returns the key wrapped under the trusted key wrappingID
// with AES key wrap with padding (RFC 5649): the form in which the caller
// keeps the key durable and copies it to other tokens holding the same
// trusted key (LoadKey). The loaded key itself is non-extractable.
func (t *Token) GenerateKey(wrappingID string, opts KeyOptions) ([]byte, error) {
	var wrapped []byte
	err := t.withKeeper(func(s pkcs11.SessionHandle) error {
		if err := t.reserve(opts.ID); err != nil {
			return err
		}
		return t.withOwnKey(s, wrappingID, func(wrapping pkcs11.ObjectHandle) error {
			ctx := t.module.ctx
			template := append(keyTemplate(opts, true)[1:], pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32))
			h, err := ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, template)
			if err != nil {
				return fmt.Errorf("generate key %q: %w", opts.ID, err)
			}
			wrapped, err = ctx.WrapKey(s, wrapMechanism, wrapping, h)
			if err == nil {
				err = ctx.SetAttributeValue(s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false)})
			}
			if err != nil {
				_ = ctx.DestroyObject(s, h)
				return fmt.Errorf("wrap new key %q: %w", opts.ID, err)
			}
			t.hold(s, opts.ID, h)
			return nil
		})
	})
	return wrapped, err
}

// LoadKey unwraps a key that GenerateKey wrapped (in this token or another
// holding the same trusted key wrappingID) and loads it under opts.ID. A
// blob that the trusted key did not wrap gives ErrInvalidCiphertext.
func (t *Token) LoadKey(wrappingID string, wrapped []byte, opts KeyOptions) error {
	return t.withKeeper(func(s pkcs11.SessionHandle) error {
		if err := t.reserve(opts.ID); err != nil {
			return err
		}
		h, err := t.unwrap(s, wrappingID, wrapped, opts)
		if err != nil {
			return err
		}
		t.hold(s, opts.ID, h)
		return nil
	})
}

// DeleteKey unloads the key id (ErrKeyNotFound if it is not loaded); an
// operation using it finishes first. Its wrapped form, wherever the caller
// keeps it, is the caller's to delete.
func (t *Token) DeleteKey(id string) error {
	h, destroyNow, found := t.loaded.remove(id)
	if !found {
		return fmt.Errorf("key %q: %w", id, ErrKeyNotFound)
	}
	if destroyNow {
		return t.withKeeper(func(s pkcs11.SessionHandle) error {
			if err := t.module.ctx.DestroyObject(s, h); err != nil {
				return fmt.Errorf("delete key %q: %w", id, err)
			}
			return nil
		})
	}
	return nil
}

// LoadedKeys returns how many keys the token holds loaded.
func (t *Token) LoadedKeys() int { return t.loaded.len() }

// TokenKey is a key kept as a token object by an earlier version of this
// package, in its wrapped form.
type TokenKey struct {
	ID, Label string
	Wrapped   []byte
}

// MigrateTokenKeys moves the keys that an earlier version kept as token
// objects to the form this version keeps: each is wrapped under the trusted
// key wrappingID and handed to keep (which must make it durable), then
// its token object destroyed; it loads like any key from then on. A key
// keep fails on stays a token object, for the next attempt.
func (t *Token) MigrateTokenKeys(wrappingID string, keep func(TokenKey) error) error {
	return t.withKeeper(func(s pkcs11.SessionHandle) error {
		ctx := t.module.ctx
		found, err := t.findObjects(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		})
		if err != nil {
			return err
		}
		return t.withOwnKey(s, wrappingID, func(wrapping pkcs11.ObjectHandle) error {
			for _, h := range found {
				attrs, err := ctx.GetAttributeValue(s, h, []*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
					pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
				})
				if err != nil {
					return fmt.Errorf("read key attributes: %w", err)
				}
				k := TokenKey{ID: string(attrs[0].Value), Label: string(attrs[1].Value)}
				if k.Wrapped, err = ctx.WrapKey(s, wrapMechanism, wrapping, h); err != nil {
					return fmt.Errorf("wrap key %q: %w", k.ID, err)
				}
				if err := keep(k); err != nil {
					return err
				}
				if err := ctx.DestroyObject(s, h); err != nil {
					return fmt.Errorf("remove token object of key %q: %w", k.ID, err)
				}
			}
			return nil
		})
	})
}

// createTokenKey makes a key the way earlier versions did, as a token
// object, so that MigrateTokenKeys can be tested.
func (t *Token) createTokenKey(opts KeyOptions) error {
	return t.withKeeper(func(s pkcs11.SessionHandle) error {
		template := append(keyTemplate(opts, true)[1:], pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32))
		template[1] = pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)
		_, err := t.module.ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, template)
		return err
	})
}
