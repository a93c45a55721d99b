package awsjson

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
)

// ContentType is the media type of AWS JSON 1.1 requests and responses.
const ContentType = "application/x-amz-json-1.1"

// maxBody is the largest request body accepted.
const maxBody = 1 << 20

// Error is an AWS error response: {"__type": Type, "message": Message}.
type Error struct {
	Type    string
	Message string
	Status  int
}

// Error returns "Type: Message".
func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Errorf builds an *Error with status 400.
func Errorf(errType, format string, args ...any) *Error {
	return &Error{Type: errType, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// HandlerFunc runs one operation: it decodes body (already validated
// against the model) and returns the output value to encode as JSON, or an
// error (an *Error for AWS errors; anything else is an internal failure).
type HandlerFunc func(ctx context.Context, body []byte) (any, error)

// Service serves one AWS JSON 1.1 service.
type Service struct {
	// Model validates requests and names the operations.
	Model *Model
	// Handlers maps operation names to their implementations; a modelled
	// operation without one answers UnsupportedType.
	Handlers map[string]HandlerFunc
	// MessageField is the error body's message member: "message" for KMS,
	// "Message" for CloudHSM.
	MessageField string
	// UnsupportedType is the error type for modelled operations that are not
	// implemented (for KMS: UnsupportedOperationException).
	UnsupportedType string
	// InternalType is the error type for internal failures.
	InternalType string
	// Logger receives request failures; never secrets.
	Logger *slog.Logger
}

// ServeHTTP routes POST / by X-Amz-Target.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	if r.Method != http.MethodPost {
		s.writeError(w, &Error{Type: "UnknownOperationException", Status: http.StatusBadRequest, Message: "Only POST is supported"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, found := strings.CutPrefix(target, s.Model.TargetPrefix+".")
	if !found || op == "" {
		s.writeError(w, &Error{Type: "UnknownOperationException", Status: http.StatusBadRequest, Message: fmt.Sprintf("Unknown operation %q", target)})
		return
	}
	if _, ok := s.Model.Operations[op]; !ok {
		s.writeError(w, &Error{Type: "UnknownOperationException", Status: http.StatusBadRequest, Message: fmt.Sprintf("Unknown operation %q", op)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.writeError(w, &Error{Type: "SerializationException", Status: http.StatusBadRequest, Message: "Request body could not be read or is larger than 1 MiB"})
		return
	}
	handler := s.Handlers[op]
	if handler == nil {
		s.writeError(w, &Error{Type: s.UnsupportedType, Status: http.StatusBadRequest, Message: op + " is not supported by this emulator"})
		return
	}
	if err := s.Model.Validate(op, body); err != nil {
		s.writeError(w, err)
		return
	}
	out, err := s.call(r.Context(), op, handler, body)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			s.logger().Error("operation failed", "op", op, "request", requestID, "err", err)
		}
		s.writeError(w, err)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// call runs the handler, turning a panic into an internal error.
func (s *Service) call(ctx context.Context, op string, h HandlerFunc, body []byte) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("operation panicked", "op", op, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("panic in %s", op)
		}
	}()
	return h(ctx, body)
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Service) writeError(w http.ResponseWriter, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ae = &Error{Type: s.InternalType, Status: http.StatusInternalServerError, Message: "An internal error occurred"}
	}
	if ae.Status == 0 {
		ae.Status = http.StatusBadRequest
	}
	field := s.MessageField
	if field == "" {
		field = "message"
	}
	b, _ := json.Marshal(map[string]string{"__type": ae.Type, field: ae.Message})
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-ErrorType", ae.Type)
	w.WriteHeader(ae.Status)
	_, _ = w.Write(b)
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Decode unmarshals a validated request body into v. It only fails for
// bodies the model allows but Go cannot hold (for example an integer out of
// int range), which it reports as a SerializationException.
func Decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Type: "SerializationException", Status: http.StatusBadRequest, Message: "Request body could not be decoded: " + err.Error()}
	}
	return nil
}
