package control

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// Target is what a control API acts on: the KMS implementation under test.
// Methods report failures by wrapping the kinds of errors.go (Errorf), so
// that the handler answers the right status; messages are for people and
// never hold secrets. A target that does not serve a part of the protocol
// returns ErrUnsupported there (and leaves its feature out of Info).
type Target interface {
	// Info names the implementation and the features it serves (the
	// handler fills in Protocol and Version).
	Info(ctx context.Context) (Info, error)
	// NewCluster makes a ready cluster with hsms HSMs (already checked to
	// be between 1 and the handler's MaxHSMs).
	NewCluster(ctx context.Context, hsms int) (Cluster, error)
	// Cluster describes a cluster.
	Cluster(ctx context.Context, id string) (ClusterInfo, error)
	// DeleteCluster deletes a cluster and frees what it holds.
	DeleteCluster(ctx context.Context, id string) error
	// Faults lists the fault catalogue.
	Faults(ctx context.Context) ([]Fault, error)
	// InjectFault puts a fault in place.
	InjectFault(ctx context.Context, req FaultRequest) error
	// HealFault heals a fault in place and reports what changed.
	HealFault(ctx context.Context, req FaultRequest) (HealReport, error)
	// Hold arms a hold on a store's next connect or disconnect.
	Hold(ctx context.Context, req HoldRequest) (Hold, error)
	// HoldState describes a hold.
	HoldState(ctx context.Context, id string) (Hold, error)
	// Release releases a hold: the held transition goes on.
	Release(ctx context.Context, id string) error
}

// DefaultMaxHSMs bounds the HSMs of one cluster asked for through
// POST /clusters (CloudHSM's quota per cluster is 28).
const DefaultMaxHSMs = 28

// maxBody is the largest request body the handler reads.
const maxBody = 64 << 10

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Token is the bearer token every request must carry. It must not be
	// empty: a control API can read kmsuser passwords and break clusters.
	Token string
	// MaxHSMs bounds the HSMs of a new cluster (DefaultMaxHSMs when 0).
	MaxHSMs int
}

// handler serves the protocol over a Target.
type handler struct {
	target  Target
	token   []byte
	maxHSMs int
	routes  []route
}

// route is one operation of the protocol: a method and a path pattern
// whose "{id}" segment matches one path segment.
type route struct {
	method, pattern string
	serve           func(h *handler, w http.ResponseWriter, r *http.Request, id string)
}

// NewHandler returns the http.Handler that serves the protocol over t.
func NewHandler(t Target, opts HandlerOptions) (http.Handler, error) {
	if opts.Token == "" {
		return nil, errors.New("control: the handler needs a token")
	}
	if opts.MaxHSMs <= 0 {
		opts.MaxHSMs = DefaultMaxHSMs
	}
	h := &handler{target: t, token: []byte(opts.Token), maxHSMs: opts.MaxHSMs}
	h.routes = []route{
		{http.MethodGet, "/", (*handler).info},
		{http.MethodPost, "/clusters", (*handler).newCluster},
		{http.MethodGet, "/clusters/{id}", (*handler).cluster},
		{http.MethodDelete, "/clusters/{id}", (*handler).deleteCluster},
		{http.MethodGet, "/faults", (*handler).faults},
		{http.MethodPost, "/faults", (*handler).injectFault},
		{http.MethodPost, "/faults/heal", (*handler).healFault},
		{http.MethodPost, "/holds", (*handler).hold},
		{http.MethodGet, "/holds/{id}", (*handler).holdState},
		{http.MethodDelete, "/holds/{id}", (*handler).release},
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kmsharness-control"`)
		writeError(w, Errorf(ErrUnauthorized, "a bearer token is required (Authorization: Bearer $%s)", EnvToken))
		return
	}
	var allowed []string
	for _, rt := range h.routes {
		id, ok := match(rt.pattern, r.URL.Path)
		if !ok {
			continue
		}
		if rt.method != r.Method {
			allowed = append(allowed, rt.method)
			continue
		}
		rt.serve(h, w, r, id)
		return
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))})
		return
	}
	writeError(w, Errorf(ErrNotFound, "no such resource: %s", r.URL.Path))
}

// authorized checks the bearer token in constant time.
func (h *handler) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), h.token) == 1
}

// match matches a path against a pattern and returns its "{id}" segment.
func match(pattern, path string) (string, bool) {
	prefix, hasID := strings.CutSuffix(pattern, "{id}")
	if !hasID {
		return "", path == pattern
	}
	id, ok := strings.CutPrefix(path, prefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

func (h *handler) info(w http.ResponseWriter, r *http.Request, _ string) {
	info, err := h.target.Info(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	info.Protocol, info.Version = Protocol, Version
	if info.Features == nil {
		info.Features = []string{}
	}
	writeJSON(w, http.StatusOK, info)
}

func (h *handler) newCluster(w http.ResponseWriter, r *http.Request, _ string) {
	var req NewClusterRequest
	if !decode(w, r, &req) {
		return
	}
	hsms := DefaultHSMs
	if req.HSMs != nil {
		hsms = *req.HSMs
	}
	if hsms < 1 || hsms > h.maxHSMs {
		writeError(w, Errorf(ErrBadRequest, "hsms must be between 1 and %d", h.maxHSMs))
		return
	}
	c, err := h.target.NewCluster(r.Context(), hsms)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (h *handler) cluster(w http.ResponseWriter, r *http.Request, id string) {
	info, err := h.target.Cluster(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	if info.HSMs == nil {
		info.HSMs = []HSM{}
	}
	writeJSON(w, http.StatusOK, info)
}

func (h *handler) deleteCluster(w http.ResponseWriter, r *http.Request, id string) {
	if err := h.target.DeleteCluster(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) faults(w http.ResponseWriter, r *http.Request, _ string) {
	list, err := h.target.Faults(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []Fault{}
	}
	writeJSON(w, http.StatusOK, list)
}

// faultRequest decodes and checks a FaultRequest body.
func faultRequest(w http.ResponseWriter, r *http.Request) (FaultRequest, bool) {
	var req FaultRequest
	if !decode(w, r, &req) {
		return req, false
	}
	if req.Name == "" || req.Cluster == "" {
		writeError(w, Errorf(ErrBadRequest, `a fault request needs "name" and "cluster"`))
		return req, false
	}
	return req, true
}

func (h *handler) injectFault(w http.ResponseWriter, r *http.Request, _ string) {
	req, ok := faultRequest(w, r)
	if !ok {
		return
	}
	if err := h.target.InjectFault(r.Context(), req); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

func (h *handler) healFault(w http.ResponseWriter, r *http.Request, _ string) {
	req, ok := faultRequest(w, r)
	if !ok {
		return
	}
	report, err := h.target.HealFault(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

func (h *handler) hold(w http.ResponseWriter, r *http.Request, _ string) {
	var req HoldRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Store == "" || (req.Transition != TransitionConnect && req.Transition != TransitionDisconnect) {
		writeError(w, Errorf(ErrBadRequest, `a hold needs "store" and "transition" (%q or %q)`, TransitionConnect, TransitionDisconnect))
		return
	}
	hold, err := h.target.Hold(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, hold)
}

func (h *handler) holdState(w http.ResponseWriter, r *http.Request, id string) {
	hold, err := h.target.HoldState(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, hold)
}

func (h *handler) release(w http.ResponseWriter, r *http.Request, id string) {
	if err := h.target.Release(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a request body strictly: application/json, at most maxBody
// bytes, exactly one JSON object with no unknown members and nothing after
// it. It answers the error itself and reports whether to go on.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := DecodeRequest(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxBody), v); err != nil {
		writeError(w, err)
		return false
	}
	return true
}

// DecodeRequest decodes a control API request body into v as the handler
// does: the media type must be application/json, and the body exactly one
// JSON object with no unknown members and nothing after it. Errors wrap
// ErrUnsupportedMediaType or ErrBadRequest.
func DecodeRequest(contentType string, body io.Reader, v any) error {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return Errorf(ErrUnsupportedMediaType, "the body must be application/json")
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return badBody(err)
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return badBody(io.EOF)
	}
	if trimmed[0] != '{' {
		return Errorf(ErrBadRequest, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badBody(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(ErrBadRequest, "the body has data after its JSON object")
	}
	return exactMembers(trimmed, v)
}

// exactMembers refuses member names that differ from v's only in case
// (encoding/json would take "HSMS" for "hsms"): the protocol's names are
// exact.
func exactMembers(body []byte, v any) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return badBody(err)
	}
	known := map[string]bool{}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	for name := range members {
		if !known[name] {
			return Errorf(ErrBadRequest, "the body has an unknown member %q", name)
		}
	}
	return nil
}

func badBody(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return Errorf(ErrBadRequest, "the body is larger than %d bytes", maxBody)
	}
	if errors.Is(err, io.EOF) {
		return Errorf(ErrBadRequest, "the body is empty; send a JSON object ({} at least)")
	}
	return Errorf(ErrBadRequest, "the body is not valid: %v", err)
}

func writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError && msg == "" {
		msg = "the target failed"
	}
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
