package hsmwire

import "fmt"

// Status is the outcome of a request.
type Status uint8

// Request outcomes. Each non-OK status has a sentinel error below.
const (
	StatusOK Status = iota
	StatusBadRequest
	StatusAuthFailed
	StatusLockedOut
	StatusUserNotFound
	StatusUserLoggedIn
	StatusNotLoggedIn
	StatusAlreadyLoggedIn
	StatusPermissionDenied
	StatusUserExists
	StatusKeyNotFound
	StatusKeyExists
	StatusInvalidCiphertext
	StatusInputTooLarge
	StatusSessionsExhausted
	StatusNotEmpty
	StatusInternal
)

// Sentinel errors for the statuses, matched with errors.Is against what a
// client returns.
var (
	ErrBadRequest        = &Error{Status: StatusBadRequest}
	ErrAuthFailed        = &Error{Status: StatusAuthFailed}
	ErrLockedOut         = &Error{Status: StatusLockedOut}
	ErrUserNotFound      = &Error{Status: StatusUserNotFound}
	ErrUserLoggedIn      = &Error{Status: StatusUserLoggedIn}
	ErrNotLoggedIn       = &Error{Status: StatusNotLoggedIn}
	ErrAlreadyLoggedIn   = &Error{Status: StatusAlreadyLoggedIn}
	ErrPermissionDenied  = &Error{Status: StatusPermissionDenied}
	ErrUserExists        = &Error{Status: StatusUserExists}
	ErrKeyNotFound       = &Error{Status: StatusKeyNotFound}
	ErrKeyExists         = &Error{Status: StatusKeyExists}
	ErrInvalidCiphertext = &Error{Status: StatusInvalidCiphertext}
	ErrInputTooLarge     = &Error{Status: StatusInputTooLarge}
	ErrSessionsExhausted = &Error{Status: StatusSessionsExhausted}
	ErrNotEmpty          = &Error{Status: StatusNotEmpty}
	ErrInternal          = &Error{Status: StatusInternal}
)

var statusNames = map[Status]string{
	StatusOK: "ok", StatusBadRequest: "bad request", StatusAuthFailed: "authentication failed",
	StatusLockedOut: "user locked out", StatusUserNotFound: "user not found",
	StatusUserLoggedIn: "user logged in elsewhere", StatusNotLoggedIn: "not logged in",
	StatusAlreadyLoggedIn: "already logged in", StatusPermissionDenied: "permission denied",
	StatusUserExists: "user exists", StatusKeyNotFound: "key not found", StatusKeyExists: "key exists",
	StatusInvalidCiphertext: "invalid ciphertext", StatusInputTooLarge: "input too large",
	StatusSessionsExhausted: "no free HSM session", StatusNotEmpty: "HSM not empty", StatusInternal: "internal error",
}

// String returns a short description of the status.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status %d", uint8(s))
}

// Error is a non-OK response as a Go error.
type Error struct {
	Status  Status
	Message string
}

// Error describes the failure.
func (e *Error) Error() string {
	if e.Message == "" {
		return "hsm: " + e.Status.String()
	}
	return "hsm: " + e.Status.String() + ": " + e.Message
}

// Is matches any *Error with the same status, so that
// errors.Is(err, hsmwire.ErrLockedOut) holds whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Errorf builds an *Error with a formatted message.
func Errorf(s Status, format string, args ...any) *Error {
	return &Error{Status: s, Message: fmt.Sprintf(format, args...)}
}
