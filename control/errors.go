package control

import (
	"errors"
	"fmt"
	"net/http"
)

// Kinds of failure a Target reports by wrapping them; the handler answers
// each with its status, and the Client's errors match them with errors.Is.
var (
	// ErrBadRequest: the request is malformed or names an unknown fault (400).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: the bearer token is missing or wrong (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: an unknown cluster, HSM, store or hold, or a fault not
	// in place (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the fault is already in place, or the resource is in a
	// state that forbids the request (409).
	ErrConflict = errors.New("conflict")
	// ErrUnsupportedMediaType: a body that is not application/json (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrLimitExceeded: the target will not make more of something (429).
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrUnsupported: the target does not serve this part of the protocol
	// (501).
	ErrUnsupported = errors.New("not supported by this target")
)

// statusOf maps an error to the status the handler answers it with.
func statusOf(err error) int {
	for _, k := range []struct {
		err    error
		status int
	}{
		{ErrBadRequest, http.StatusBadRequest},
		{ErrUnauthorized, http.StatusUnauthorized},
		{ErrNotFound, http.StatusNotFound},
		{ErrConflict, http.StatusConflict},
		{ErrUnsupportedMediaType, http.StatusUnsupportedMediaType},
		{ErrLimitExceeded, http.StatusTooManyRequests},
		{ErrUnsupported, http.StatusNotImplemented},
	} {
		if errors.Is(err, k.err) {
			return k.status
		}
	}
	return http.StatusInternalServerError
}

// kindOf maps a status back to the error kind it stands for (nil for a
// status of no kind, such as 500).
func kindOf(status int) error {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return ErrBadRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusUnsupportedMediaType:
		return ErrUnsupportedMediaType
	case http.StatusTooManyRequests:
		return ErrLimitExceeded
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return ErrUnsupported
	}
	return nil
}

// Errorf returns an error of a kind (ErrNotFound, …) with a message for
// people: what a Target returns so that the handler answers the right
// status.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// StatusError is an error answer of the control API, as the Client reports
// it. It matches its kind with errors.Is (ErrNotFound for a 404, …).
type StatusError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("control API %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// Is reports whether target is the kind of this answer's status.
func (e *StatusError) Is(target error) bool {
	kind := kindOf(e.Status)
	return kind != nil && kind == target
}
