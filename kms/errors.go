package kms

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// ErrStoreNotFound means the service has no custom key store with that ID
// (what its Go API, such as HoldTransition, wraps).
var ErrStoreNotFound = errors.New("custom key store not found")

// serverFaults are the exceptions AWS sends with a 5xx status (which SDKs
// retry); every other KMS exception is a 400, as the live service sends.
var serverFaults = map[string]bool{
	"KMSInternalException":       true,
	"KeyUnavailableException":    true,
	"DependencyTimeoutException": true,
}

// kmsError returns the KMS exception errType with a formatted message.
func kmsError(errType, format string, args ...any) error {
	status := http.StatusBadRequest
	if serverFaults[errType] {
		status = http.StatusInternalServerError
	}
	return &awsjson.Error{Type: errType, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Shorthands for the exceptions used most.
func storeNotFound(id string) error {
	return kmsError("CustomKeyStoreNotFoundException", "Custom key store %s does not exist.", id)
}

func storeInvalidState(format string, args ...any) error {
	return kmsError("CustomKeyStoreInvalidStateException", format, args...)
}

func keyNotFound(id string) error {
	return kmsError("NotFoundException", "Key '%s' does not exist", id)
}

func invalidState(format string, args ...any) error {
	return kmsError("KMSInvalidStateException", format, args...)
}

func validation(format string, args ...any) error {
	return kmsError("ValidationException", format, args...)
}

func unsupported(format string, args ...any) error {
	return kmsError("UnsupportedOperationException", format, args...)
}

func invalidCiphertext() error {
	return kmsError("InvalidCiphertextException", "The ciphertext is invalid, or was not encrypted under this key and encryption context.")
}
