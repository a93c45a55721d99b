package harness

import (
	"log/slog"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/kms"
)

// Backend names where HSM nodes run.
type Backend string

// The backends.
const (
	// BackendProcess runs each HSM as a local hsmnode process (the default).
	BackendProcess Backend = "process"
	// BackendContainer runs each HSM as a container of the hsmnode image
	// (make image), each subnet a Docker network of its own.
	BackendContainer Backend = "container"
)

type options struct {
	backend            Backend
	dataDir            string
	tempRoot           string
	region, account    string
	hsmnodeBinary      string
	image              string
	softhsmLibrary     string
	lockoutThreshold   int
	delays             *cloudhsm.Delays
	kmsOptions         []kms.Option
	controlToken       string
	maxControlClusters int
	logger             *slog.Logger
	auth               Auth
	accessKeys         map[string]string
	limits             ServerLimits
}

// WithKMSOptions passes options to the KMS front end (connect delay, store
// quota, day length of deletion windows, …).
func WithKMSOptions(opts ...kms.Option) Option {
	return func(o *options) { o.kmsOptions = append(o.kmsOptions, opts...) }
}

// Option configures Start.
type Option func(*options)

// WithBackend chooses where HSM nodes run (BackendProcess by default).
func WithBackend(b Backend) Option { return func(o *options) { o.backend = b } }

// WithDataDir keeps the harness's files (node data, trust anchors, the KMS
// state database) in dir instead of a temporary directory removed by Close.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithTempRoot sets the directory in which a harness without WithDataDir
// makes its temporary directory. By default it is $TMPDIR when set, else a
// RAM-backed file system with room (/dev/shm on Linux), where HSM nodes
// start and write faster, else os.TempDir().
func WithTempRoot(dir string) Option { return func(o *options) { o.tempRoot = dir } }

// WithRegion sets the AWS region (default us-east-1).
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithAccount sets the 12-digit AWS account ID (default 111122223333).
func WithAccount(account string) Option { return func(o *options) { o.account = account } }

// WithHSMNodeBinary sets the hsmnode executable (default: processbackend.FindBinary).
func WithHSMNodeBinary(path string) Option { return func(o *options) { o.hsmnodeBinary = path } }

// WithImage sets the hsmnode image of the container backend
// (containerbackend.DefaultImage by default).
func WithImage(image string) Option { return func(o *options) { o.image = image } }

// WithSoftHSMLibrary sets the PKCS#11 library the nodes load.
func WithSoftHSMLibrary(path string) Option { return func(o *options) { o.softhsmLibrary = path } }

// WithLockoutThreshold sets after how many consecutive failed logins an HSM
// locks a user (default 5).
func WithLockoutThreshold(n int) Option { return func(o *options) { o.lockoutThreshold = n } }

// WithControlPlaneDelays sets the durations of the control plane's
// asynchronous transitions (cloudhsm.DefaultDelays otherwise).
func WithControlPlaneDelays(d cloudhsm.Delays) Option { return func(o *options) { o.delays = &d } }

// WithLogger sets the logger (HSM node logs arrive at debug level).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithControlToken sets the bearer token of the control API (a random one
// by default; ControlToken returns it).
func WithControlToken(token string) Option { return func(o *options) { o.controlToken = token } }

// WithMaxControlClusters bounds how many clusters made through the control
// API may be alive at once (DefaultMaxControlClusters by default): each
// HSM is a process or a container, and callers are expected to delete
// what they made.
func WithMaxControlClusters(n int) Option { return func(o *options) { o.maxControlClusters = n } }

// Auth says how the KMS and CloudHSMv2 endpoints authenticate requests.
type Auth string

// The authentication modes.
const (
	// AuthSigV4 checks the AWS Signature Version 4 of every request against
	// the harness's credentials (AccessKeyID, SecretAccessKey) and those
	// given with WithAccessKey, answering as AWS does when it is missing,
	// malformed, wrong, more than 5 minutes off or made with an unknown key
	// (the default).
	AuthSigV4 Auth = "sigv4"
	// AuthNone accepts every request, signed or not (for clients that
	// cannot sign).
	AuthNone Auth = "none"
)

// WithAuth sets how the KMS and CloudHSMv2 endpoints authenticate requests
// (AuthSigV4 by default).
func WithAuth(a Auth) Option { return func(o *options) { o.auth = a } }

// WithAccessKey adds an access key the endpoints accept besides the
// harness's own; it may be given more than once.
func WithAccessKey(accessKeyID, secretAccessKey string) Option {
	return func(o *options) {
		if o.accessKeys == nil {
			o.accessKeys = map[string]string{}
		}
		o.accessKeys[accessKeyID] = secretAccessKey
	}
}

// WithServerLimits sets the timeouts and the connection cap of the
// harness's HTTP servers; zero fields keep DefaultServerLimits.
func WithServerLimits(l ServerLimits) Option { return func(o *options) { o.limits = l } }
