package softhsm

import (
	"crypto/rand"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Limits of the cryptographic operations, as CloudHSM sets them.
const (
	// MaxGCMInput is the largest plaintext single-part AES-GCM accepts on
	// CloudHSM (16 KB); multi-part GCM does not exist there.
	MaxGCMInput = 16 * 1024
	// GCMIVSize is the IV length the HSM generates for AES-GCM.
	GCMIVSize = 12
	// GCMTagSize is the authentication tag length, always 128 bits.
	GCMTagSize = 16
	// MaxRandom is the most bytes one GenerateRandom call returns.
	MaxRandom = 64 * 1024
)

// Encrypt encrypts plaintext with the key keyID under AES-256-GCM. Like
// CloudHSM, the HSM chooses the IV: 12 random bytes from the HSM process's
// random source (drawing them through PKCS#11 would cost a call into the
// token per encryption). It returns that IV and the ciphertext with its
// 16-byte tag appended.
func (t *Token) Encrypt(keyID string, plaintext, aad []byte) (iv, ciphertext []byte, err error) {
	if len(plaintext) > MaxGCMInput {
		return nil, nil, fmt.Errorf("plaintext of %d bytes exceeds %d: %w", len(plaintext), MaxGCMInput, ErrInputTooLarge)
	}
	iv = make([]byte, GCMIVSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, nil, fmt.Errorf("generate IV: %w", err)
	}
	err = t.withSession(func(s pkcs11.SessionHandle) error {
		k, err := t.acquire(keyID)
		if err != nil {
			return err
		}
		defer t.release(k)
		ciphertext, err = t.gcm(s, k.handle, true, iv, plaintext, aad)
		return err
	})
	return iv, ciphertext, err
}

// Decrypt reverses Encrypt. A ciphertext that fails authentication gives
// ErrInvalidCiphertext.
func (t *Token) Decrypt(keyID string, iv, ciphertext, aad []byte) ([]byte, error) {
	if len(iv) != GCMIVSize {
		return nil, fmt.Errorf("IV must be %d bytes, got %d: %w", GCMIVSize, len(iv), ErrInvalidParameter)
	}
	if len(ciphertext) < GCMTagSize {
		return nil, fmt.Errorf("ciphertext shorter than its tag: %w", ErrInvalidCiphertext)
	}
	if len(ciphertext) > MaxGCMInput+GCMTagSize {
		return nil, fmt.Errorf("ciphertext of %d bytes exceeds %d: %w", len(ciphertext), MaxGCMInput+GCMTagSize, ErrInputTooLarge)
	}
	var plaintext []byte
	err := t.withSession(func(s pkcs11.SessionHandle) error {
		k, err := t.acquire(keyID)
		if err != nil {
			return err
		}
		defer t.release(k)
		plaintext, err = t.gcm(s, k.handle, false, iv, ciphertext, aad)
		return err
	})
	return plaintext, err
}

// Seal encrypts data of any size with a sealing key (see TokenSpec) under
// AES-256-GCM; the result is the 12-byte IV followed by ciphertext and tag.
// It is for data the HSM keeps confidential outside itself, such as backups.
func (t *Token) Seal(sealingKeyID string, data, aad []byte) ([]byte, error) {
	var sealed []byte
	err := t.withSession(func(s pkcs11.SessionHandle) error {
		iv, err := t.module.ctx.GenerateRandom(s, GCMIVSize)
		if err != nil {
			return fmt.Errorf("generate IV: %w", err)
		}
		return t.withOwnKey(s, sealingKeyID, func(h pkcs11.ObjectHandle) error {
			out, err := t.gcm(s, h, true, iv, data, aad)
			sealed = append(iv, out...)
			return err
		})
	})
	return sealed, err
}

// Unseal reverses Seal.
func (t *Token) Unseal(sealingKeyID string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < GCMIVSize+GCMTagSize {
		return nil, fmt.Errorf("sealed data too short: %w", ErrInvalidCiphertext)
	}
	var data []byte
	err := t.withSession(func(s pkcs11.SessionHandle) error {
		return t.withOwnKey(s, sealingKeyID, func(h pkcs11.ObjectHandle) error {
			var err error
			data, err = t.gcm(s, h, false, sealed[:GCMIVSize], sealed[GCMIVSize:], aad)
			return err
		})
	})
	return data, err
}

// gcm runs one single-part AES-GCM operation with a 128-bit tag. SoftHSM
// accepts any IV length and tags down to zero bits, so callers fix both.
func (t *Token) gcm(s pkcs11.SessionHandle, key pkcs11.ObjectHandle, encrypt bool, iv, in, aad []byte) ([]byte, error) {
	params := pkcs11.NewGCMParams(iv, aad, GCMTagSize*8)
	defer params.Free()
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}
	ctx := t.module.ctx
	if encrypt {
		if err := ctx.EncryptInit(s, mech, key); err != nil {
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		out, err := ctx.Encrypt(s, in)
		if err != nil {
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		return out, nil
	}
	if err := ctx.DecryptInit(s, mech, key); err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	out, err := ctx.Decrypt(s, in)
	if err != nil {
		if handleStale(err) || sessionBroken(err) {
			return nil, fmt.Errorf("decrypt: %w", err)
		}
		// SoftHSM reports a failed tag check as CKR_GENERAL_ERROR.
		return nil, fmt.Errorf("decrypt: %w", ErrInvalidCiphertext)
	}
	return out, nil
}

// GenerateRandom returns n bytes from the token's random number generator.
func (t *Token) GenerateRandom(n int) ([]byte, error) {
	if n < 0 || n > MaxRandom {
		return nil, fmt.Errorf("random length %d outside 0..%d: %w", n, MaxRandom, ErrInvalidParameter)
	}
	if n == 0 {
		return []byte{}, nil
	}
	var out []byte
	err := t.withSession(func(s pkcs11.SessionHandle) error {
		var err error
		out, err = t.module.ctx.GenerateRandom(s, n)
		if err != nil {
			return fmt.Errorf("generate random: %w", err)
		}
		return nil
	})
	return out, err
}
