package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds one call of the Client: making a cluster or
// restoring one from a backup takes a while on a loaded machine.
const DefaultTimeout = 5 * time.Minute

// Client speaks the control protocol to one target. It implements Target,
// so a handler can serve a remote target too. Its zero value is not
// usable: make it with NewClient or FromEnvironment.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client of the control API at baseURL that sends
// token. httpClient may be nil (a client of its own, with DefaultTimeout).
func NewClient(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("control: %q is not an http(s) URL", baseURL)
	}
	if token == "" {
		return nil, fmt.Errorf("control: no token for %s (set $%s)", baseURL, EnvToken)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, http: httpClient}, nil
}

// ErrNoControl means the environment names no control API.
var ErrNoControl = errors.New("no control API: set $" + EnvURL + " (kmsharness up prints it)")

// FromEnvironment returns a client of the control API that $KMSHARNESS_CONTROL
// names, with the token in $KMSHARNESS_CONTROL_TOKEN. It returns
// ErrNoControl when the URL is not set.
func FromEnvironment() (*Client, error) {
	base := os.Getenv(EnvURL)
	if base == "" {
		return nil, ErrNoControl
	}
	return NewClient(base, os.Getenv(EnvToken), nil)
}

// URL returns the base URL of the control API.
func (c *Client) URL() string { return c.base }

// Info asks which features the target serves.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.do(ctx, http.MethodGet, "/", nil, http.StatusOK, &out)
	if err == nil && out.Protocol != Protocol {
		err = fmt.Errorf("control API %s: answers protocol %q, not %q", c.base, out.Protocol, Protocol)
	}
	return out, err
}

// NewCluster asks for a new ready cluster with hsms HSMs (the target's
// default, DefaultHSMs, when hsms is 0).
func (c *Client) NewCluster(ctx context.Context, hsms int) (Cluster, error) {
	req := NewClusterRequest{}
	if hsms != 0 {
		req.HSMs = &hsms
	}
	var out Cluster
	err := c.do(ctx, http.MethodPost, "/clusters", req, http.StatusCreated, &out)
	return out, err
}

// Cluster describes a cluster and its HSMs.
func (c *Client) Cluster(ctx context.Context, id string) (ClusterInfo, error) {
	var out ClusterInfo
	err := c.do(ctx, http.MethodGet, "/clusters/"+url.PathEscape(id), nil, http.StatusOK, &out)
	return out, err
}

// DeleteCluster deletes a cluster the caller no longer needs.
func (c *Client) DeleteCluster(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/clusters/"+url.PathEscape(id), nil, http.StatusNoContent, nil)
}

// Faults lists the target's fault catalogue.
func (c *Client) Faults(ctx context.Context) ([]Fault, error) {
	var out []Fault
	err := c.do(ctx, http.MethodGet, "/faults", nil, http.StatusOK, &out)
	return out, err
}

// InjectFault puts a fault in place.
func (c *Client) InjectFault(ctx context.Context, req FaultRequest) error {
	return c.do(ctx, http.MethodPost, "/faults", req, http.StatusCreated, nil)
}

// HealFault heals a fault and reports what changed.
func (c *Client) HealFault(ctx context.Context, req FaultRequest) (HealReport, error) {
	var out HealReport
	err := c.do(ctx, http.MethodPost, "/faults/heal", req, http.StatusOK, &out)
	return out, err
}

// Hold arms a hold on a store's next connect or disconnect.
func (c *Client) Hold(ctx context.Context, req HoldRequest) (Hold, error) {
	var out Hold
	err := c.do(ctx, http.MethodPost, "/holds", req, http.StatusCreated, &out)
	return out, err
}

// HoldState describes a hold.
func (c *Client) HoldState(ctx context.Context, id string) (Hold, error) {
	var out Hold
	err := c.do(ctx, http.MethodGet, "/holds/"+url.PathEscape(id), nil, http.StatusOK, &out)
	return out, err
}

// Release releases a hold: the held transition goes on.
func (c *Client) Release(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/holds/"+url.PathEscape(id), nil, http.StatusNoContent, nil)
}

// do sends one request and decodes the expected answer into out (when not
// nil); any other answer is a *StatusError.
func (c *Client) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("control API %s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		var e errorBody
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("control API %s %s: the answer is not what the protocol says: %w", method, path, err)
		}
	}
	return nil
}

var _ Target = (*Client)(nil)
