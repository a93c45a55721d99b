// Package cloudhsm is the emulated CloudHSM control plane: clusters, HSMs,
// the emulated VPC's subnets, certificates and backups, served over the
// CloudHSMv2 JSON protocol (X-Amz-Target: BaldrApiService.*) so that the AWS
// SDKs and `aws cloudhsmv2` work against it. HSM nodes are started and
// stopped through an HSMBackend, and reached as the appliance user through
// an Appliance; both are supplied by the harness.
package cloudhsm

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kmsharness/kmsharness/cloudhsm/pki"
	"github.com/kmsharness/kmsharness/internal/atomicfile"
	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// Delays are the durations of CloudHSM's asynchronous transitions. AWS takes
// minutes; the defaults are short so tests stay fast, but long enough that
// the in-progress states are real.
type Delays struct {
	CreateCluster     time.Duration
	InitializeCluster time.Duration
	DeleteCluster     time.Duration
}

// DefaultDelays are the delays used unless WithDelays is given: 5 ms each,
// so that a harness with a ready cluster starts in under 200 ms (20 ms each
// made it 210 ms); specs that look at the in-progress states set longer ones.
var DefaultDelays = Delays{CreateCluster: 5 * time.Millisecond, InitializeCluster: 5 * time.Millisecond, DeleteCluster: 5 * time.Millisecond}

type options struct {
	region, account string
	delays          Delays
	logger          *slog.Logger
	subnetPrefix    int
	maxHSMs         int
	stateFile       string
	credentials     map[string]string
}

// Option configures a Service.
type Option func(*options)

// WithRegion sets the region (default us-east-1); AZs are region + a, b, c.
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithAccount sets the 12-digit account ID used in ARNs (default 111122223333).
func WithAccount(account string) Option { return func(o *options) { o.account = account } }

// WithDelays sets the durations of the asynchronous transitions.
func WithDelays(d Delays) Option { return func(o *options) { o.delays = d } }

// WithLogger sets the logger; it never receives secrets.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithDefaultSubnetPrefix sets the prefix length of the default VPC's
// subnets (default 24: 251 usable addresses).
func WithDefaultSubnetPrefix(bits int) Option { return func(o *options) { o.subnetPrefix = bits } }

// SigningName is the CloudHSMv2 API's service name in SigV4 credential
// scopes.
const SigningName = "cloudhsm"

// WithCredentials makes the API check the SigV4 signature of every request
// against these access keys (access key ID → secret access key). Without
// it requests are not authenticated.
func WithCredentials(keys map[string]string) Option {
	return func(o *options) { o.credentials = keys }
}

// WithMaxHSMsPerCluster sets the HSM quota of a cluster (default 28).
func WithMaxHSMsPerCluster(n int) Option { return func(o *options) { o.maxHSMs = n } }

// Service is the control plane. It is safe for concurrent use.
type Service struct {
	opts      options
	backend   HSMBackend
	appliance Appliance
	log       *slog.Logger
	api       *awsjson.Service

	awsRoot, manufacturerRoot *pki.CA
	defaultVPC                string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        stateLock
	saveMu    sync.Mutex // one save at a time; guards lastSaved
	lastSaved []byte     // the state file's content, to skip unchanged writes
	net       network
	clusters  map[string]*cluster
	backups   map[string]*backup
	closed    bool
}

// New returns a control plane that runs HSMs on backend and reaches them
// through appliance. It starts with a default VPC holding one subnet in each
// of the region's first three AZs.
func New(backend HSMBackend, appliance Appliance, opts ...Option) (*Service, error) {
	o := options{region: "us-east-1", account: "111122223333", delays: DefaultDelays, subnetPrefix: 24, maxHSMs: 28}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	model, err := awsjson.LoadModel(awsjson.ModelCloudHSM2)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts: o, backend: backend, appliance: appliance, log: o.logger,
		net:      network{subnets: map[string]*Subnet{}},
		clusters: map[string]*cluster{}, backups: map[string]*backup{},
		defaultVPC: newHexID("vpc-"),
	}
	restored := false
	if o.stateFile != "" {
		// A save a crash interrupted left its temporary file (with the
		// lineages' keys) behind.
		if n, err := atomicfile.RemoveStale(filepath.Dir(o.stateFile)); err != nil || n > 0 {
			s.log.Info("removed files of interrupted saves", "dir", filepath.Dir(o.stateFile), "files", n, "err", err)
		}
		data, err := os.ReadFile(o.stateFile)
		switch {
		case err == nil:
			if err := s.restore(data); err != nil {
				return nil, err
			}
			restored = true
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	if !restored {
		if s.awsRoot, err = pki.NewSelfSignedCA("AWS CloudHSM hardware (emulated)"); err != nil {
			return nil, err
		}
		if s.manufacturerRoot, err = pki.NewSelfSignedCA("HSM manufacturer (emulated)"); err != nil {
			return nil, err
		}
		for _, zone := range []string{"a", "b", "c"} {
			if _, err := s.net.add(s.defaultVPC, o.region+zone, o.subnetPrefix); err != nil {
				return nil, err
			}
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var auth *awsjson.SigV4
	if o.credentials != nil {
		auth = awsjson.NewSigV4(SigningName, o.region, o.credentials)
	}
	s.api, err = awsjson.NewService(awsjson.Config{
		Model: model, MessageField: "Message", Logger: o.logger, Auth: auth,
		UnsupportedType: "CloudHsmInvalidRequestException", InternalType: "CloudHsmInternalFailureException",
		Handlers: map[string]awsjson.Handler{
			"CreateCluster":     awsjson.Op(s.createCluster),
			"DescribeClusters":  awsjson.Op(s.describeClusters),
			"InitializeCluster": awsjson.Op(s.initializeCluster),
			"DeleteCluster":     awsjson.Op(s.deleteCluster),
			"CreateHsm":         awsjson.Op(s.createHSM),
			"DeleteHsm":         awsjson.Op(s.deleteHSM),
			"DescribeBackups":   awsjson.Op(s.describeBackups),
		},
	})
	if err != nil {
		return nil, err
	}
	if restored {
		ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
		s.resumeHSMs(ctx)
		cancel()
	}
	if o.stateFile != "" {
		_ = s.save()
		s.async(s.saver)
	}
	return s, nil
}

// Handler returns the HTTP handler of the CloudHSMv2 API.
func (s *Service) Handler() http.Handler { return s.api }

// Region returns the service's region.
func (s *Service) Region() string { return s.opts.region }

// Close stops the background work (HSM provisioning, timed transitions).
// The HSM nodes belong to the backend, which the caller closes.
func (s *Service) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.opts.stateFile != "" {
		_ = s.save()
	}
	return nil
}

// async runs fn in the background until the service closes.
func (s *Service) async(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

// after waits d (or until the service closes), then runs fn under the lock.
func (s *Service) after(d time.Duration, fn func()) {
	s.async(func(ctx context.Context) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		fn()
	})
}

// Errors of the CloudHSMv2 API.
func invalidRequest(format string, args ...any) error {
	return awsjson.Errorf("CloudHsmInvalidRequestException", format, args...)
}

func notFound(format string, args ...any) error {
	return awsjson.Errorf("CloudHsmResourceNotFoundException", format, args...)
}

// newLineage makes the key material of a new cluster.
func (s *Service) newLineage(clusterID string) (*lineage, error) {
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	l := &lineage{secret: make([]byte, 32), key: key, auPassword: newPassword(),
		subject: pkix.Name{CommonName: clusterID, Organization: []string{"kmsharness cluster"}}}
	if _, err := rand.Read(l.secret); err != nil {
		return nil, err
	}
	if l.csrPEM, err = pki.NewCSR(key, l.subject); err != nil {
		return nil, err
	}
	if l.authorityPEM, _, err = pki.IssueSelfSigned(key, l.subject); err != nil {
		return nil, err
	}
	if l.hsmCertPEM, err = pki.IssueCertificate(s.awsRoot.Cert, s.awsRoot.Key, key.Public(), pkix.Name{CommonName: "HSM " + clusterID}, true); err != nil {
		return nil, err
	}
	return l, nil
}

// access says how the control plane reaches an HSM of c.
func (s *Service) access(c *cluster, h *hsm) HSMAccess {
	return HSMAccess{HSMID: h.ID, Address: h.address, TrustAnchorPEM: c.lineage.authorityPEM,
		ApplianceUser: ApplianceUser, AppliancePassword: c.lineage.auPassword}
}

// activeAccess returns the cluster and how to reach its first ACTIVE HSM.
func (s *Service) activeAccess(clusterID string) (*cluster, HSMAccess, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(clusterID)
	if err != nil {
		return nil, HSMAccess{}, err
	}
	active := c.activeHSMs()
	if len(active) == 0 {
		return nil, HSMAccess{}, invalidRequest("Cluster %s has no active HSM", c.ID)
	}
	return c, s.access(c, active[0]), nil
}

func (s *Service) lookup(id string) (*cluster, error) {
	c, ok := s.clusters[id]
	if !ok {
		return nil, notFound("Cluster %s not found", id)
	}
	return c, nil
}

// clusterInput is the input of an operation on one cluster.
type clusterInput interface{ clusterID() string }

// onCluster locks the service and runs fn with the cluster the input names
// (CloudHsmResourceNotFoundException if none).
func onCluster[In clusterInput](s *Service, in In, fn func(in In, c *cluster) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.lookup(in.clusterID())
	if err != nil {
		return nil, err
	}
	return fn(in, c)
}
