package softhsm

import (
	"errors"

	"github.com/miekg/pkcs11"
)

// Errors returned by Token operations, matched with errors.Is.
var (
	// ErrTokenNotFound means no initialised token has the requested label.
	ErrTokenNotFound = errors.New("token not found")
	// ErrKeyNotFound means no key object has the requested ID.
	ErrKeyNotFound = errors.New("key not found")
	// ErrKeyExists means a key with the requested ID is already in the token.
	ErrKeyExists = errors.New("a key with this ID already exists")
	// ErrInvalidCiphertext means decryption failed authentication: wrong
	// key, IV, AAD, or a damaged ciphertext or tag.
	ErrInvalidCiphertext = errors.New("ciphertext failed authentication")
	// ErrInputTooLarge means the data exceeds what the operation accepts
	// (CloudHSM caps single-part AES-GCM at MaxGCMInput bytes).
	ErrInputTooLarge = errors.New("input too large")
	// ErrInvalidParameter means an argument is malformed (for example an IV
	// that is not 12 bytes).
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrSessionsExhausted means every PKCS#11 session of the token is in
	// use; CloudHSM allows 1,024 per application.
	ErrSessionsExhausted = errors.New("no free PKCS#11 session")
	// ErrClosed means the token was closed.
	ErrClosed = errors.New("token closed")
)

// ckr returns the PKCS#11 return value inside err, or 0 if there is none.
func ckr(err error) uint {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return uint(e)
	}
	return 0
}

// sessionBroken reports whether err means the session can no longer be used.
func sessionBroken(err error) bool {
	switch ckr(err) {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_DEVICE_REMOVED,
		pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return true
	}
	return false
}

// handleStale reports whether err means a cached object handle went stale.
func handleStale(err error) bool {
	switch ckr(err) {
	case pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID:
		return true
	}
	return false
}
