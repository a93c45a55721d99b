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
	"mime"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of AWS JSON 1.1 requests and responses.
const ContentType = "application/x-amz-json-1.1"

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

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

// Handler runs one operation. Make one with Op.
type Handler interface {
	// bind compiles the handler for operation op of the model.
	bind(m *Model, op string) (operation, error)
}

// operation is a handler bound to its operation: it decodes and runs.
type operation func(ctx context.Context, body []byte) (any, error)

// Op makes the handler of an operation whose input the service decodes
// into a T. T is a struct whose exported fields are named (by field name
// or json tag) exactly as members of the operation's input shape, of Go
// types that can hold those members; NewService refuses any other T. fn
// sees only bodies that passed the model's constraints, decoded in the
// same pass that checked them; it returns the output value to encode as
// JSON, or an error (an *Error for AWS errors; anything else is an
// internal failure).
func Op[T any](fn func(ctx context.Context, in *T) (any, error)) Handler {
	return opHandler[T]{fn: fn}
}

type opHandler[T any] struct {
	fn func(context.Context, *T) (any, error)
}

func (h opHandler[T]) bind(m *Model, op string) (operation, error) {
	p, err := m.compile(op, reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, body []byte) (any, error) {
		in := new(T)
		if err := decodeBody(p, body, reflect.ValueOf(in).Elem()); err != nil {
			return nil, err
		}
		return h.fn(ctx, in)
	}, nil
}

// compile builds the plan of an operation's input for Go type t (nil to
// validate only).
func (m *Model) compile(op string, t reflect.Type) (*plan, error) {
	o, ok := m.Operations[op]
	if !ok {
		return nil, fmt.Errorf("awsjson: operation %s is not in the model", op)
	}
	if t != nil && t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("awsjson: %s: the input type %s is not a struct", op, t)
	}
	if o.Input == "" {
		if t != nil && t.NumField() > 0 {
			return nil, fmt.Errorf("awsjson: %s has no input, but its Go input type %s has fields", op, t)
		}
		return &plan{shape: &Shape{Name: op + "Input", Type: "structure"}, kind: "structure", typ: t, members: map[string]*memberPlan{}}, nil
	}
	p, err := m.compileShape(o.Input, t, op)
	if err != nil {
		return nil, fmt.Errorf("awsjson: %w", err)
	}
	return p, nil
}

// Config configures a Service.
type Config struct {
	// Model validates requests and names the operations.
	Model *Model
	// Handlers maps operation names to their implementations; a modelled
	// operation without one answers UnsupportedType.
	Handlers map[string]Handler
	// MessageField is the error body's message member: "message" for KMS,
	// "Message" for CloudHSM.
	MessageField string
	// UnsupportedType is the error type for modelled operations that are not
	// implemented (for KMS: UnsupportedOperationException).
	UnsupportedType string
	// InternalType is the error type for internal failures.
	InternalType string
	// Auth checks the signature of every request; nil accepts requests
	// without one.
	Auth *SigV4
	// Logger receives request failures; never secrets.
	Logger *slog.Logger
}

// Service serves one AWS JSON 1.1 service.
type Service struct {
	cfg Config
	ops map[string]operation
	log *slog.Logger
}

// NewService binds every handler to its operation. It fails when a
// handler's input type does not fit the model.
func NewService(cfg Config) (*Service, error) {
	s := &Service{cfg: cfg, ops: map[string]operation{}, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.MessageField == "" {
		s.cfg.MessageField = "message"
	}
	for name, h := range cfg.Handlers {
		op, err := h.bind(cfg.Model, name)
		if err != nil {
			return nil, err
		}
		s.ops[name] = op
	}
	return s, nil
}

// ServeHTTP answers one request, in the order AWS's front end checks it:
// the protocol (POST to /, the JSON 1.1 content type, a known
// X-Amz-Target), then the signature, then the body (read, decoded and
// validated in one pass), then the operation.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)
	op, err := s.route(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var auth *authorization
	if s.cfg.Auth != nil {
		if auth, err = s.precheck(r); err != nil {
			s.writeError(w, err)
			return
		}
	}
	bp := buffers.Get().(*[]byte)
	defer putBuffer(bp)
	body, err := readBody(w, r, (*bp)[:0])
	*bp = body // a grown buffer is the one to recycle
	if err != nil {
		s.writeError(w, err)
		return
	}
	if auth != nil {
		if aerr := s.cfg.Auth.verify(r.Context(), r, auth, body); aerr != nil {
			s.writeError(w, aerr)
			return
		}
	}
	run := s.ops[op]
	if run == nil {
		s.writeError(w, &Error{Type: s.cfg.UnsupportedType, Status: http.StatusBadRequest, Message: op + " is not supported by this emulator"})
		return
	}
	out, err := s.call(r.Context(), op, run, body)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			s.log.Error("operation failed", "op", op, "request", requestID, "err", err)
		}
		s.writeError(w, err)
		return
	}
	if a, ok := out.(Answer); ok {
		ap := buffers.Get().(*[]byte)
		defer putBuffer(ap)
		*ap = a.AppendJSON((*ap)[:0])
		writeAnswer(w, *ap)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.log.Error("encoding an answer failed", "op", op, "request", requestID, "err", err)
		s.writeError(w, err)
		return
	}
	writeAnswer(w, b)
}

// writeAnswer sends a successful answer with its length, so that the
// response is not chunked.
func writeAnswer(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// precheck wraps SigV4.precheck so that a nil *Error stays a nil error.
func (s *Service) precheck(r *http.Request) (*authorization, error) {
	auth, err := s.cfg.Auth.precheck(r)
	if err != nil {
		return nil, err
	}
	return auth, nil
}

// route checks what AWS JSON 1.1 requires of a request before its body
// and returns the operation it names. AWS answers a request it cannot
// route to an operation (another path, another content type, no or an
// unknown X-Amz-Target) with UnknownOperationException.
func (s *Service) route(r *http.Request) (string, error) {
	unknown := func(format string, args ...any) (string, error) {
		return "", &Error{Type: "UnknownOperationException", Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
	}
	if r.Method != http.MethodPost {
		return unknown("Only POST is supported; this request is %s", r.Method)
	}
	if r.URL.Path != "/" {
		return unknown("No operation is served at %q; AWS JSON 1.1 requests go to /", r.URL.Path)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ContentType {
		return unknown("Content-Type %q is not %s", r.Header.Get("Content-Type"), ContentType)
	}
	target := r.Header.Get("X-Amz-Target")
	op, found := strings.CutPrefix(target, s.cfg.Model.TargetPrefix+".")
	if !found || op == "" {
		return unknown("Unknown operation %q", target)
	}
	if _, ok := s.cfg.Model.Operations[op]; !ok {
		return unknown("Unknown operation %q", op)
	}
	return op, nil
}

// readBody reads the whole body, at most MaxBodyBytes of it, appending it
// to buf (whose capacity it grows as needed). The decoder copies what it
// keeps of a body, so the buffer is recycled once the request is answered.
func readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return buf, tooLarge()
	}
	size := 512
	if r.ContentLength > 0 {
		size = int(r.ContentLength)
	}
	buf = slices.Grow(buf, size+1)
	reader := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	for {
		n, err := reader.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			var ne net.Error
			switch {
			case errors.As(err, &tooBig):
				return buf, tooLarge()
			case errors.As(err, &ne) && ne.Timeout():
				return buf, &Error{Type: "RequestTimeoutException", Status: http.StatusRequestTimeout,
					Message: "The request body was not received within the server's read timeout."}
			}
			return buf, &Error{Type: "SerializationException", Status: http.StatusBadRequest, Message: "The request body could not be read."}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

func tooLarge() *Error {
	return &Error{Type: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("The request body is larger than %d bytes.", MaxBodyBytes)}
}

// call runs the operation, turning a panic into an internal error.
func (s *Service) call(ctx context.Context, op string, run operation, body []byte) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("operation panicked", "op", op, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("panic in %s", op)
		}
	}()
	return run(ctx, body)
}

func (s *Service) writeError(w http.ResponseWriter, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ae = &Error{Type: s.cfg.InternalType, Status: http.StatusInternalServerError, Message: "An internal error occurred"}
	}
	if ae.Status == 0 {
		ae.Status = http.StatusBadRequest
	}
	b, _ := json.Marshal(map[string]string{"__type": ae.Type, s.cfg.MessageField: ae.Message})
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
