// Package harness composes kmsharness: the emulated CloudHSM control plane,
// its HSM nodes (as local processes by default) and the endpoints a test
// talks to. Start it, make ready clusters with NewCluster, and Close it.
package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/harness/processbackend"
	"github.com/kmsharness/kmsharness/kms"
)

// Credentials the harness's KMS and CloudHSMv2 endpoints accept, besides
// those given with WithAccessKey (any signature is accepted with
// WithAuth(AuthNone)); these are what it prints and uses itself.
const (
	AccessKeyID     = "AKIAKMSHARNESS000000"
	SecretAccessKey = "kmsharness-secret-access-key"
)

// Harness is a running kmsharness. Its methods are safe for concurrent use.
type Harness struct {
	opts    options
	dir     string
	tempDir bool
	// ownerLock is held while the harness lives: a killed harness's
	// directory is known by its free lock (RemoveLeftovers).
	ownerLock *os.File
	log       *slog.Logger

	nodes    nodeBackend
	cloudHSM *cloudhsm.Service
	proxies  *proxies
	kmsMu    sync.RWMutex // guards kms, which RestartKMS replaces
	kms      *kms.Service
	servers  []*http.Server
	endpoint string // CloudHSMv2 API
	kmsURL   string
	control  string
	client   *cloudhsmv2.Client

	controlToken  string
	controlTarget *controlTarget

	clustersMu sync.Mutex
	clusters   map[string]*Cluster // ready clusters the harness made, by ID

	closeOnce sync.Once
	closeErr  error
}

// remember records a ready cluster, so that faults can act as its officer.
func (h *Harness) remember(c *Cluster) {
	h.clustersMu.Lock()
	defer h.clustersMu.Unlock()
	if h.clusters == nil {
		h.clusters = map[string]*Cluster{}
	}
	h.clusters[c.ID] = c
}

// ClusterByID returns a ready cluster the harness made (or restored).
func (h *Harness) ClusterByID(id string) (*Cluster, bool) {
	h.clustersMu.Lock()
	defer h.clustersMu.Unlock()
	c, ok := h.clusters[id]
	return c, ok
}

// Start starts the control plane and its HSM backend. The returned Harness
// is never nil: Close it even when Start fails, to release what did start.
func Start(ctx context.Context, opts ...Option) (*Harness, error) {
	o := options{backend: BackendProcess, region: "us-east-1", account: "111122223333", maxControlClusters: DefaultMaxControlClusters,
		auth: AuthSigV4}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	h := &Harness{opts: o, log: o.logger, dir: o.dataDir}
	if err := h.start(ctx); err != nil {
		return h, fmt.Errorf("harness: %w", err)
	}
	return h, nil
}

func (h *Harness) start(ctx context.Context) error {
	if h.opts.backend != BackendProcess && h.opts.backend != BackendContainer {
		return fmt.Errorf("backend %q does not exist; use %q or %q", h.opts.backend, BackendProcess, BackendContainer)
	}
	if h.opts.auth != AuthSigV4 && h.opts.auth != AuthNone {
		return fmt.Errorf("authentication %q does not exist; use %q or %q", h.opts.auth, AuthSigV4, AuthNone)
	}
	root := h.opts.tempParent()
	removeLeftovers(h.log, root)
	if h.dir == "" {
		dir, lock, err := ownedTempDir(root)
		if err != nil {
			return err
		}
		h.dir, h.tempDir, h.ownerLock = dir, true, lock
	}
	backend, err := h.newNodeBackend(ctx)
	if err != nil {
		return err
	}
	h.nodes = backend
	cpOpts := []cloudhsm.Option{cloudhsm.WithRegion(h.opts.region), cloudhsm.WithAccount(h.opts.account), cloudhsm.WithLogger(h.log)}
	if keys := h.accessKeys(); keys != nil {
		cpOpts = append(cpOpts, cloudhsm.WithCredentials(keys))
	}
	if h.opts.delays != nil {
		cpOpts = append(cpOpts, cloudhsm.WithDelays(*h.opts.delays))
	}
	if h.opts.dataDir != "" {
		// The control plane's clusters (and their nodes) survive restarts too.
		cpOpts = append(cpOpts, cloudhsm.WithStateFile(filepath.Join(h.dir, "cloudhsm.json")))
	}
	if h.cloudHSM, err = cloudhsm.New(backend, appliance{}, cpOpts...); err != nil {
		return err
	}
	if h.endpoint, err = h.serve(h.cloudHSM.Handler()); err != nil {
		return err
	}
	h.client = cloudhsmv2.New(cloudhsmv2.Options{
		Region:       h.opts.region,
		BaseEndpoint: aws.String(h.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	})
	if err := h.loadClusters(); err != nil {
		return err
	}
	h.proxies = newProxies()
	if h.kms, err = h.openKMS(); err != nil {
		return err
	}
	if h.kmsURL, err = h.serve(http.HandlerFunc(h.serveKMS)); err != nil {
		return err
	}
	h.controlToken = h.opts.controlToken
	if h.controlToken == "" {
		h.controlToken = newControlToken()
	}
	h.controlTarget = newControlTarget(h)
	controlHandler, err := h.controlHandler()
	if err != nil {
		return err
	}
	if h.control, err = h.serve(controlHandler); err != nil {
		return err
	}
	return ctx.Err()
}

// serve runs handler on a new loopback port and returns its URL.
func (h *Harness) serve(handler http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv, capped := h.opts.limits.withDefaults().newServer(handler, l)
	h.servers = append(h.servers, srv)
	go func() { _ = srv.Serve(capped) }()
	return "http://" + l.Addr().String(), nil
}

// accessKeys returns the access keys the endpoints accept, or nil when they
// do not authenticate requests.
func (h *Harness) accessKeys() map[string]string {
	if h.opts.auth == AuthNone {
		return nil
	}
	keys := map[string]string{AccessKeyID: SecretAccessKey}
	for id, secret := range h.opts.accessKeys {
		keys[id] = secret
	}
	return keys
}

// KMSEndpoint returns the URL of the KMS API.
func (h *Harness) KMSEndpoint() string { return h.kmsURL }

// ControlEndpoint returns the URL of the harness control API.
func (h *Harness) ControlEndpoint() string { return h.control }

// KMS returns the KMS front end.
func (h *Harness) KMS() *kms.Service {
	h.kmsMu.RLock()
	defer h.kmsMu.RUnlock()
	return h.kms
}

func (h *Harness) openKMS() (*kms.Service, error) {
	opts := []kms.Option{kms.WithRegion(h.opts.region), kms.WithAccount(h.opts.account), kms.WithLogger(h.log)}
	if keys := h.accessKeys(); keys != nil {
		opts = append(opts, kms.WithCredentials(keys))
	}
	opts = append(opts, h.opts.kmsOptions...)
	if h.opts.dataDir != "" {
		opts = append(opts, kms.WithDataDir(filepath.Join(h.dir, "kms")))
	} else {
		opts = append(opts, kms.WithScratchDir(h.dir))
	}
	return kms.New(kmsCloud{client: h.client, plane: h.cloudHSM, proxies: h.proxies}, opts...)
}

// serveKMS hands requests to the current KMS front end.
func (h *Harness) serveKMS(w http.ResponseWriter, r *http.Request) {
	h.KMS().Handler().ServeHTTP(w, r)
}

// RestartKMS stops the KMS front end and starts a new one on the same
// endpoint from the same state (the harness needs WithDataDir): as after a
// crash or an upgrade, every store, key, alias and ciphertext must still be
// valid, and stores that were CONNECTED connect again.
func (h *Harness) RestartKMS(context.Context) error {
	if h.opts.dataDir == "" {
		return errors.New("harness: RestartKMS needs WithDataDir (the state would not survive)")
	}
	h.kmsMu.Lock()
	defer h.kmsMu.Unlock()
	if err := h.kms.Close(); err != nil {
		return err
	}
	next, err := h.openKMS()
	if err != nil {
		return fmt.Errorf("harness: reopen KMS: %w", err)
	}
	h.kms = next
	return nil
}

// CloudHSMEndpoint returns the URL of the CloudHSMv2 API.
func (h *Harness) CloudHSMEndpoint() string { return h.endpoint }

// Region returns the AWS region the harness emulates.
func (h *Harness) Region() string { return h.opts.region }

// Dir returns the directory holding the harness's files.
func (h *Harness) Dir() string { return h.dir }

// ControlPlane returns the emulated CloudHSM control plane.
func (h *Harness) ControlPlane() *cloudhsm.Service { return h.cloudHSM }

// Processes returns the process backend, for faults that act on nodes.
// It is nil on the container backend; Nodes works on both.
func (h *Harness) Processes() *processbackend.Backend {
	p, _ := h.nodes.(*processbackend.Backend)
	return p
}

// Nodes returns the controls of the HSM nodes, whatever the backend.
func (h *Harness) Nodes() NodeControl { return h.nodes }

// CloudHSMClient returns an SDK client for the CloudHSMv2 API.
func (h *Harness) CloudHSMClient() *cloudhsmv2.Client { return h.client }

// Close stops the API servers, the KMS front end (logging out of every
// cluster), every HSM node and the control plane, and
// removes the temporary directory. It is safe to call more than once.
func (h *Harness) Close(ctx context.Context) error {
	h.closeOnce.Do(func() {
		var errs []error
		for _, srv := range h.servers {
			errs = append(errs, srv.Shutdown(ctx))
		}
		if h.kms != nil {
			errs = append(errs, h.kms.Close())
		}
		if h.proxies != nil {
			h.proxies.close()
		}
		if h.cloudHSM != nil {
			errs = append(errs, h.cloudHSM.Close(ctx))
		}
		if h.nodes != nil {
			errs = append(errs, h.nodes.Close(ctx))
		}
		if h.tempDir {
			errs = append(errs, os.RemoveAll(h.dir))
		}
		if h.ownerLock != nil {
			_ = h.ownerLock.Close()
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}
