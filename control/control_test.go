package control_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kmsharness/kmsharness/control"
)

// recorder is a Target that records what the handler asked of it and
// answers from a script: the tests here are about the protocol layer, so
// what a real target does behind it does not matter.
type recorder struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (r *recorder) record(call string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
	return r.err
}

func (r *recorder) Info(context.Context) (control.Info, error) {
	return control.Info{Implementation: "recorder", Features: []string{control.FeatureFaults}}, r.record("Info")
}
func (r *recorder) NewCluster(_ context.Context, hsms int) (control.Cluster, error) {
	return control.Cluster{ClusterID: "cluster-aaaaaaaaaaa", KMSUserPassword: "pw"}, r.record("NewCluster " + strings.Repeat("x", hsms))
}
func (r *recorder) Cluster(_ context.Context, id string) (control.ClusterInfo, error) {
	return control.ClusterInfo{ClusterID: id}, r.record("Cluster " + id)
}
func (r *recorder) DeleteCluster(_ context.Context, id string) error {
	return r.record("DeleteCluster " + id)
}
func (r *recorder) Faults(context.Context) ([]control.Fault, error) {
	return []control.Fault{{Name: "f"}}, r.record("Faults")
}
func (r *recorder) InjectFault(_ context.Context, req control.FaultRequest) error {
	return r.record("InjectFault " + req.Name + " " + req.Cluster + " " + req.HSM)
}
func (r *recorder) HealFault(_ context.Context, req control.FaultRequest) (control.HealReport, error) {
	return control.HealReport{ClusterID: "cluster-bbbbbbbbbbb"}, r.record("HealFault " + req.Name)
}
func (r *recorder) Hold(_ context.Context, req control.HoldRequest) (control.Hold, error) {
	return control.Hold{HoldID: "h1", Store: req.Store, Transition: req.Transition}, r.record("Hold " + req.Store + " " + req.Transition)
}
func (r *recorder) HoldState(_ context.Context, id string) (control.Hold, error) {
	return control.Hold{HoldID: id, Holding: true}, r.record("HoldState " + id)
}
func (r *recorder) Release(_ context.Context, id string) error { return r.record("Release " + id) }

func serve(t *testing.T, target control.Target) (*control.Client, *httptest.Server) {
	t.Helper()
	h, err := control.NewHandler(target, control.HandlerOptions{Token: "secret", MaxHSMs: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := control.NewClient(srv.URL, "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestClientAndHandlerSpeakTheProtocol(t *testing.T) {
	r := &recorder{}
	c, _ := serve(t, r)
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil || info.Protocol != control.Protocol || info.Version != control.Version || !info.Has(control.FeatureFaults) || info.Has(control.FeatureHolds) {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if cl, err := c.NewCluster(ctx, 0); err != nil || cl.ClusterID != "cluster-aaaaaaaaaaa" {
		t.Fatalf("NewCluster(0) = %+v, %v", cl, err)
	}
	if _, err := c.NewCluster(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewCluster(ctx, 5); !errors.Is(err, control.ErrBadRequest) {
		t.Fatalf("NewCluster above MaxHSMs: %v", err)
	}
	if _, err := c.Cluster(ctx, "cluster-x"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCluster(ctx, "cluster-x"); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Faults(ctx); err != nil || len(f) != 1 {
		t.Fatalf("Faults = %v, %v", f, err)
	}
	if err := c.InjectFault(ctx, control.FaultRequest{Name: "n", Cluster: "c", HSM: "h"}); err != nil {
		t.Fatal(err)
	}
	if rep, err := c.HealFault(ctx, control.FaultRequest{Name: "n", Cluster: "c"}); err != nil || rep.ClusterID != "cluster-bbbbbbbbbbb" {
		t.Fatalf("HealFault = %+v, %v", rep, err)
	}
	if hold, err := c.Hold(ctx, control.HoldRequest{Store: "cks-1", Transition: control.TransitionDisconnect}); err != nil || hold.HoldID != "h1" {
		t.Fatalf("Hold = %+v, %v", hold, err)
	}
	if _, err := c.Hold(ctx, control.HoldRequest{Store: "cks-1", Transition: "sideways"}); !errors.Is(err, control.ErrBadRequest) {
		t.Fatalf("Hold with a bad transition: %v", err)
	}
	if hold, err := c.HoldState(ctx, "h1"); err != nil || !hold.Holding {
		t.Fatalf("HoldState = %+v, %v", hold, err)
	}
	if err := c.Release(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"Info", "NewCluster xx", "NewCluster xxx", "Cluster cluster-x", "DeleteCluster cluster-x", "Faults",
		"InjectFault n c h", "HealFault n", "Hold cks-1 disconnect", "HoldState h1", "Release h1"}
	if strings.Join(r.calls, "|") != strings.Join(want, "|") {
		t.Fatalf("the target saw\n%q\nwant\n%q", r.calls, want)
	}
}

func TestErrorsOfTheTargetKeepTheirKind(t *testing.T) {
	for _, kind := range []error{control.ErrBadRequest, control.ErrNotFound, control.ErrConflict, control.ErrLimitExceeded, control.ErrUnsupported} {
		r := &recorder{err: control.Errorf(kind, "because %s", "reasons")}
		c, _ := serve(t, r)
		err := c.InjectFault(context.Background(), control.FaultRequest{Name: "n", Cluster: "c"})
		if !errors.Is(err, kind) {
			t.Errorf("target error of kind %v: client got %v", kind, err)
		}
		var se *control.StatusError
		if !errors.As(err, &se) || se.Message != "because reasons" {
			t.Errorf("the message is not passed on: %v", err)
		}
	}
	r := &recorder{err: errors.New("disk full")}
	c, _ := serve(t, r)
	var se *control.StatusError
	if err := c.DeleteCluster(context.Background(), "x"); !errors.As(err, &se) || se.Status != http.StatusInternalServerError {
		t.Errorf("an untyped target error: %v, want a 500", err)
	}
}

func TestTheTokenIsRequired(t *testing.T) {
	if _, err := control.NewHandler(&recorder{}, control.HandlerOptions{}); err == nil {
		t.Fatal("a handler without a token was made")
	}
	r := &recorder{}
	_, srv := serve(t, r)
	for _, header := range []string{"", "Bearer", "Bearer wrong", "Basic c2VjcmV0", "secret", "Bearer secret2"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/faults", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: status %d", header, resp.StatusCode)
		}
	}
	if len(r.calls) != 0 {
		t.Errorf("the target was called without the token: %q", r.calls)
	}
	if _, err := control.NewClient(srv.URL, "", nil); err == nil {
		t.Error("a client without a token was made")
	}
	if _, err := control.NewClient("ftp://x", "t", nil); err == nil {
		t.Error("a client of a non-HTTP URL was made")
	}
}

func TestDecodeRequestIsStrict(t *testing.T) {
	type body struct {
		HSMs *int   `json:"hsms,omitempty"`
		Name string `json:"name"`
	}
	for _, tc := range []struct {
		contentType, body string
		kind              error
	}{
		{"application/json", `{"hsms":2}`, nil},
		{"application/json; charset=utf-8", ` {"name":"x"} `, nil},
		{"application/json", `{}`, nil},
		{"text/plain", `{"hsms":2}`, control.ErrUnsupportedMediaType},
		{"", `{"hsms":2}`, control.ErrUnsupportedMediaType},
		{"application/jsonx", `{}`, control.ErrUnsupportedMediaType},
		{"application/json", ``, control.ErrBadRequest},
		{"application/json", `null`, control.ErrBadRequest},
		{"application/json", `[1]`, control.ErrBadRequest},
		{"application/json", `{"hsms":2} x`, control.ErrBadRequest},
		{"application/json", `{"hsms":2}{}`, control.ErrBadRequest},
		{"application/json", `{"HSMS":2}`, control.ErrBadRequest},
		{"application/json", `{"unknown":2}`, control.ErrBadRequest},
		{"application/json", `{"hsms":"2"}`, control.ErrBadRequest},
		{"application/json", `{"hsms":1e400}`, control.ErrBadRequest},
	} {
		var v body
		err := control.DecodeRequest(tc.contentType, strings.NewReader(tc.body), &v)
		if (tc.kind == nil) != (err == nil) || (tc.kind != nil && !errors.Is(err, tc.kind)) {
			t.Errorf("%s %q: %v, want %v", tc.contentType, tc.body, err, tc.kind)
		}
	}
}

func TestPathsAndMethods(t *testing.T) {
	_, srv := serve(t, &recorder{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", 200},
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/clusters/", 404},
		{http.MethodGet, "/clusters/a/b", 404},
		{http.MethodPut, "/clusters/a", 405},
		{http.MethodGet, "/clusters", 405},
		{http.MethodDelete, "/holds/h1", 204},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
}

func TestFromEnvironment(t *testing.T) {
	t.Setenv(control.EnvURL, "")
	if _, err := control.FromEnvironment(); !errors.Is(err, control.ErrNoControl) {
		t.Errorf("no URL: %v", err)
	}
	t.Setenv(control.EnvURL, "http://127.0.0.1:1")
	t.Setenv(control.EnvToken, "")
	if _, err := control.FromEnvironment(); err == nil {
		t.Error("no token: no error")
	}
	t.Setenv(control.EnvToken, "t")
	if c, err := control.FromEnvironment(); err != nil || c.URL() != "http://127.0.0.1:1" {
		t.Errorf("FromEnvironment = %v, %v", c, err)
	}
}
