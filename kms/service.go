// Package kms is the KMS front end of kmsharness: the AWS KMS JSON 1.1 API
// for custom key stores backed by CloudHSM clusters, and the key operations
// their users need. Custom key stores connect for real: KMS resolves the
// cluster, dials every ACTIVE HSM over TLS verified against the trust anchor,
// logs in as kmsuser and rotates its password; each ConnectionErrorCode comes
// from the condition actually met. Keys of a CloudHSM store live in the HSMs;
// every operation on them runs there. State persists in bbolt.
package kms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/kmsharness/kmsharness/internal/awsjson"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

// Defaults of the options.
const (
	DefaultStoreQuota      = 10
	DefaultConnectDelay    = 100 * time.Millisecond
	DefaultDisconnectDelay = 10 * time.Millisecond
	defaultListLimit       = 100
)

type options struct {
	region, account string
	dataDir         string
	scratchDir      string
	storeQuota      int
	connectDelay    time.Duration
	disconnectDelay time.Duration
	dayLength       time.Duration
	hsmTimeout      time.Duration
	sessionCheck    time.Duration
	logger          *slog.Logger
	stepHook        func(ctx context.Context, step Step, store string)
	credentials     map[string]string
}

// Option configures a Service.
type Option func(*options)

// WithRegion sets the region of ARNs (default us-east-1).
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithAccount sets the 12-digit account ID of ARNs (default 111122223333).
func WithAccount(account string) Option { return func(o *options) { o.account = account } }

// WithDataDir keeps the state database (kms.db) in dir, so that a restarted
// service finds its stores, keys and aliases. Without it state lives in a
// temporary file removed on Close.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithScratchDir sets where the state database lives when WithDataDir is
// not given (the system's temporary directory by default); it is removed
// on Close either way. A harness keeps it in its own directory, so that a
// killed harness leaves one thing to remove, not two.
func WithScratchDir(dir string) Option { return func(o *options) { o.scratchDir = dir } }

// WithStoreQuota sets how many custom key stores the account may have
// (AWS: 10, not adjustable).
func WithStoreQuota(n int) Option { return func(o *options) { o.storeQuota = n } }

// WithConnectDelay sets how long a connect waits before it starts working
// (AWS takes up to 20 minutes; the default keeps CONNECTING observable).
func WithConnectDelay(d time.Duration) Option { return func(o *options) { o.connectDelay = d } }

// WithDisconnectDelay sets how long a store stays DISCONNECTING.
func WithDisconnectDelay(d time.Duration) Option { return func(o *options) { o.disconnectDelay = d } }

// WithDayLength sets how long a "day" of a key's deletion waiting period
// lasts (24 h by default; tests shorten it to see deletions complete).
func WithDayLength(d time.Duration) Option { return func(o *options) { o.dayLength = d } }

// WithHSMTimeout bounds each call to one HSM (dial, login, crypto) before
// KMS gives up on it (default 2 s).
func WithHSMTimeout(d time.Duration) Option { return func(o *options) { o.hsmTimeout = d } }

// WithSessionCheck sets how often a CONNECTED store looks for ACTIVE HSMs
// it has no session with (added, restarted or reachable again) and logs in
// there (default 1 s).
func WithSessionCheck(d time.Duration) Option { return func(o *options) { o.sessionCheck = d } }

// SigningName is the KMS API's service name in SigV4 credential scopes.
const SigningName = "kms"

// WithCredentials makes the API check the SigV4 signature of every request
// against these access keys (access key ID → secret access key). Without
// it requests are not authenticated.
func WithCredentials(keys map[string]string) Option {
	return func(o *options) { o.credentials = keys }
}

// WithLogger sets the logger; it never receives secrets or plaintext.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Service is the KMS front end. It is safe for concurrent use.
type Service struct {
	opts    options
	cloud   Cloud
	api     *awsjson.Service
	db      *stateDB
	tempDB  string
	markers markers
	sealer  *sealer
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	seq      uint64
	stores   map[string]*keyStore
	keys     map[string]*key
	keyOrder []*key // the keys by Seq, for ListKeys pages without sorting
	aliases  map[string]*alias
	sessions map[string]*storeSession // runtime state of stores, by ID

	holdReg holdRegistry // holds on transient states

	failpointsMu sync.Mutex
	failpoints   map[string]int // "name/clusterID" -> times armed
}

// Failpoints of the KMS front end, armed by tests through ArmFailpoint.
const (
	// FailpointConnect makes a connect to the cluster fail with
	// INTERNAL_ERROR, as an internal KMS failure would.
	FailpointConnect = "connect"
)

// ArmFailpoint arms a named failpoint for one cluster and returns the
// function that disarms it. Failpoints are the one seam inside KMS: they
// stand for KMS's own internal errors, which no outside fault can cause.
func (s *Service) ArmFailpoint(name, clusterID string) (disarm func()) {
	key := name + "/" + clusterID
	s.failpointsMu.Lock()
	if s.failpoints == nil {
		s.failpoints = map[string]int{}
	}
	s.failpoints[key]++
	s.failpointsMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.failpointsMu.Lock()
			defer s.failpointsMu.Unlock()
			if s.failpoints[key]--; s.failpoints[key] <= 0 {
				delete(s.failpoints, key)
			}
		})
	}
}

func (s *Service) failpointArmed(name, clusterID string) bool {
	s.failpointsMu.Lock()
	defer s.failpointsMu.Unlock()
	return s.failpoints[name+"/"+clusterID] > 0
}

// storeSession is the runtime side of a store: the work in progress
// (connect or disconnect) and, while CONNECTED, the logged-in HSMs.
type storeSession struct {
	cancel context.CancelFunc
	done   chan struct{}
	hsms   *hsmclient.Cluster
}

// New opens the service. cloud lets it reach CloudHSM clusters.
func New(cloud Cloud, opts ...Option) (*Service, error) {
	o := options{region: "us-east-1", account: "111122223333", storeQuota: DefaultStoreQuota,
		connectDelay: DefaultConnectDelay, disconnectDelay: DefaultDisconnectDelay, dayLength: 24 * time.Hour,
		hsmTimeout: hsmclient.DefaultAttemptTimeout, sessionCheck: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{opts: o, cloud: cloud, log: o.logger, stores: map[string]*keyStore{}, keys: map[string]*key{},
		aliases: map[string]*alias{}, sessions: map[string]*storeSession{}}
	path := ""
	if o.dataDir != "" {
		if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
			return nil, err
		}
		path = filepath.Join(o.dataDir, "kms.db")
	} else {
		f, err := os.CreateTemp(o.scratchDir, "kmsharness-kms-*.db")
		if err != nil {
			return nil, err
		}
		path, s.tempDB = f.Name(), f.Name()
		_ = f.Close()
		_ = os.Remove(path)
	}
	db, err := openStateDB(path, o.dataDir != "")
	if err != nil {
		return nil, err
	}
	s.db = db
	secret, err := db.secret()
	if err != nil {
		_ = db.close()
		return nil, err
	}
	s.markers = markers{secret: secret}
	if s.sealer, err = newSealer(secret); err != nil {
		_ = db.close()
		return nil, err
	}
	if err := s.load(); err != nil {
		_ = db.close()
		return nil, err
	}
	model, err := awsjson.LoadModel(awsjson.ModelKMS)
	if err != nil {
		_ = db.close()
		return nil, err
	}
	var auth *awsjson.SigV4
	if o.credentials != nil {
		auth = awsjson.NewSigV4(SigningName, o.region, o.credentials)
	}
	if s.api, err = awsjson.NewService(awsjson.Config{Model: model, MessageField: "message", Logger: o.logger, Auth: auth,
		UnsupportedType: "UnsupportedOperationException", InternalType: "KMSInternalException",
		Handlers: s.handlers()}); err != nil {
		_ = db.close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.resume()
	s.async(s.deletionSweeper)
	return s, nil
}

// Handler returns the HTTP handler of the KMS API.
func (s *Service) Handler() http.Handler { return s.api }

// Close stops background work, logs out of every connected cluster and
// closes the state database. Stores keep their persisted state: CONNECTED
// stores reconnect when a service opens the same data directory again.
func (s *Service) Close() error {
	s.cancel()
	s.endHolds("")
	s.wg.Wait()
	s.mu.Lock()
	sessions := s.sessions
	s.sessions = map[string]*storeSession{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for id, sess := range sessions {
		wg.Go(func() { s.endSessions(context.Background(), id, sess.hsms) })
	}
	wg.Wait()
	err := s.db.close()
	if s.tempDB != "" {
		err = errors.Join(err, os.Remove(s.tempDB))
	}
	return err
}

// async runs fn in the background until Close.
func (s *Service) async(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

// load reads the persisted state.
func (s *Service) load() error {
	stores, err := loadAll[keyStore](s.db, bucketStores)
	if err != nil {
		return err
	}
	keys, err := loadAll[key](s.db, bucketKeys)
	if err != nil {
		return err
	}
	aliases, err := loadAll[alias](s.db, bucketAliases)
	if err != nil {
		return err
	}
	for _, st := range stores {
		s.stores[st.ID] = st
		s.seq = max(s.seq, st.Seq)
	}
	for _, k := range keys {
		s.keys[k.ID] = k
		s.seq = max(s.seq, k.Seq)
	}
	for _, a := range aliases {
		s.aliases[a.Name] = a
		s.seq = max(s.seq, a.Seq)
	}
	s.keyOrder = sortedBySeq(s.keys, func(k *key) uint64 { return k.Seq })
	return nil
}

// resume settles stores whose work a previous service left unfinished:
// CONNECTED and CONNECTING stores connect again (their HSM sessions ended
// with that service), DISCONNECTING ones end DISCONNECTED.
func (s *Service) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stores {
		if v, _ := s.change(st, opRestart, succeeded, ""); v == proceed && st.State == StateConnecting {
			s.startConnect(st)
		}
	}
}

func (s *Service) nextSeq() uint64 {
	s.seq++
	return s.seq
}

// persist* write a record through; a failure is logged and reported as an
// internal error by the caller's next read of the database, never lost
// silently in memory.
func (s *Service) persistStore(st *keyStore) {
	if err := s.db.put(bucketStores, st.ID, st); err != nil {
		s.log.Error("persisting a custom key store failed", "store", st.ID, "err", err)
	}
}

func (s *Service) persistKey(k *key) {
	if err := s.db.put(bucketKeys, k.ID, k); err != nil {
		s.log.Error("persisting a key failed", "key", k.ID, "err", err)
	}
}

func (s *Service) persistAlias(a *alias) {
	if err := s.db.put(bucketAliases, a.Name, a); err != nil {
		s.log.Error("persisting an alias failed", "alias", a.Name, "err", err)
	}
}

// sortedBySeq returns the map's values in creation order.
func sortedBySeq[T any](m map[string]*T, seq func(*T) uint64) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return seq(out[i]) < seq(out[j]) })
	return out
}

func (s *Service) keyARN(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.opts.region, s.opts.account, id)
}

func (s *Service) aliasARN(name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", s.opts.region, s.opts.account, name)
}

func (s *Service) handlers() map[string]awsjson.Handler {
	return map[string]awsjson.Handler{
		"CreateCustomKeyStore":            awsjson.Op(s.createCustomKeyStore),
		"ConnectCustomKeyStore":           awsjson.Op(s.connectCustomKeyStore),
		"DisconnectCustomKeyStore":        awsjson.Op(s.disconnectCustomKeyStore),
		"UpdateCustomKeyStore":            awsjson.Op(s.updateCustomKeyStore),
		"DeleteCustomKeyStore":            awsjson.Op(s.deleteCustomKeyStore),
		"DescribeCustomKeyStores":         awsjson.Op(s.describeCustomKeyStores),
		"CreateKey":                       awsjson.Op(s.createKey),
		"DescribeKey":                     awsjson.Op(s.describeKey),
		"ListKeys":                        awsjson.Op(s.listKeys),
		"EnableKey":                       awsjson.Op(s.enableKey),
		"DisableKey":                      awsjson.Op(s.disableKey),
		"ScheduleKeyDeletion":             awsjson.Op(s.scheduleKeyDeletion),
		"CancelKeyDeletion":               awsjson.Op(s.cancelKeyDeletion),
		"Encrypt":                         awsjson.Op(s.encrypt),
		"Decrypt":                         awsjson.Op(s.decrypt),
		"ReEncrypt":                       awsjson.Op(s.reEncrypt),
		"GenerateDataKey":                 awsjson.Op(s.generateDataKey),
		"GenerateDataKeyWithoutPlaintext": awsjson.Op(s.generateDataKeyWithoutPlaintext),
		"GenerateRandom":                  awsjson.Op(s.generateRandom),
		"CreateAlias":                     awsjson.Op(s.createAlias),
		"UpdateAlias":                     awsjson.Op(s.updateAlias),
		"DeleteAlias":                     awsjson.Op(s.deleteAlias),
		"ListAliases":                     awsjson.Op(s.listAliases),
	}
}
