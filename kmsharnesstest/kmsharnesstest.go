// Package kmsharnesstest starts kmsharness for a Go test suite in one call:
// the emulated CloudHSM control plane with a ready cluster, and the KMS
// front end, with an AWS SDK client for it, closed when the suite ends. It
// works the same with Ginkgo (pass GinkgoT()) and with plain testing (pass
// t or b), much as controller-runtime's envtest does for Kubernetes:
//
//	var env *kmsharnesstest.Env
//
//	var _ = BeforeSuite(func() {
//		env = kmsharnesstest.Start(GinkgoT())
//	})
//
//	var _ = It("encrypts through a CloudHSM key store", func(ctx SpecContext) {
//		store := env.ConnectedStore(GinkgoT())
//		keyID := env.NewKey(GinkgoT(), store)
//		_, err := env.KMS.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("hi")})
//		Expect(err).NotTo(HaveOccurred())
//	})
//
// One Env per test package is the usual shape: Start in a BeforeSuite with
// Ginkgo; with plain testing, Start costs a few seconds per call, so group
// the tests that share one Env as subtests of one test (t.Run).
//
// Nothing needs installing beyond `go get` and SoftHSM2 (Debian/Ubuntu:
// softhsm2; macOS: Homebrew's softhsm): the HSM node program is built from
// this module once, into the user's cache directory.
package kmsharnesstest

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/sdkhttp"
	kmsfront "github.com/kmsharness/kmsharness/kms"
)

// TB is what the package needs of a test: *testing.T, *testing.B and
// Ginkgo's GinkgoT() all satisfy it. Cleanups registered through it run
// when that test (or, from a BeforeSuite, the suite) ends.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Context() context.Context
	Output() io.Writer
}

// DayLength is how long a day of a key's deletion window lasts in a
// harness Start makes (unless an option says otherwise): short, so that
// the stores a test made can be deleted when it ends.
const DayLength = 10 * time.Millisecond

// Env is a running kmsharness for a test suite.
type Env struct {
	// Harness is the running harness: faults, more clusters, endpoints.
	Harness *harness.Harness
	// Cluster is a ready cluster (ACTIVE, kmsuser created, two HSMs in two
	// zones) that no store uses yet, for a test that makes its own store
	// with the AWS SDK; NewStore and ConnectedStore make a cluster each.
	Cluster *harness.Cluster
	// KMS is an AWS SDK client of the harness's KMS endpoint.
	KMS *kms.Client
	// Region and Credentials are what KMS clients of the harness use.
	Region      string
	Credentials aws.CredentialsProvider
}

type config struct {
	harnessOptions []harness.Option
	logLevel       slog.Level
}

// Option configures Start.
type Option func(*config)

// WithHarnessOptions passes options to harness.Start (a backend, a data
// directory, KMS options such as kms.WithConnectDelay, …). They come after
// the package's own, so they win.
func WithHarnessOptions(opts ...harness.Option) Option {
	return func(c *config) { c.harnessOptions = append(c.harnessOptions, opts...) }
}

// WithLogLevel sets the level of the harness's log lines, which go to the
// test's output (shown for failed tests, or with -v). The default is warn.
func WithLogLevel(level slog.Level) Option { return func(c *config) { c.logLevel = level } }

// Start starts a harness and a ready cluster, and registers their shutdown
// with tb.Cleanup. It fails tb (Fatalf) when the harness cannot start,
// saying why (SoftHSM2 missing, say).
func Start(tb TB, opts ...Option) *Env {
	tb.Helper()
	c := config{logLevel: slog.LevelWarn}
	for _, opt := range opts {
		opt(&c)
	}
	log := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: c.logLevel}))
	hopts := append([]harness.Option{harness.WithLogger(log), harness.WithKMSOptions(kmsfront.WithDayLength(DayLength))}, c.harnessOptions...)
	ctx, cancel := context.WithTimeout(tb.Context(), 2*time.Minute)
	defer cancel()
	h, err := harness.Start(ctx, hopts...)
	tb.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = h.Close(closeCtx)
	})
	if err != nil {
		tb.Fatalf("kmsharness: %v", err)
	}
	cluster, err := h.NewCluster(ctx)
	if err != nil {
		tb.Fatalf("kmsharness: a ready cluster: %v", err)
	}
	creds := credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")
	return &Env{
		Harness: h, Cluster: cluster, Region: h.Region(), Credentials: creds,
		KMS: NewKMSClient(h.KMSEndpoint(), h.Region(), creds),
	}
}

// NewKMSClient returns an AWS SDK KMS client of a kmsharness endpoint. Its
// HTTP client sends request bodies so that the SDK's early close of a body
// cannot fail a call whose body is over 4 KiB, and drops idle connections
// before the server does (see internal/sdkhttp).
func NewKMSClient(endpoint, region string, creds aws.CredentialsProvider) *kms.Client {
	return kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds, HTTPClient: sdkhttp.NewClient()})
}
