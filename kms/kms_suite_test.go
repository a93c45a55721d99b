package kms_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/kms"
	"github.com/kmsharness/kmsharness/suites"
)

// h is this process's harness; the conformance suites run against its KMS
// endpoint and make their clusters through its control API.
var (
	h   *harness.Harness
	cfg suites.Config
)

func TestKMS(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(10 * time.Millisecond)
	RunSpecs(t, "kms")
}

// A "day" of a deletion window lasts 25 ms here, so that keys scheduled for
// deletion are really deleted and stores can be cleaned up (7 days: 175 ms),
// while a 30-day window outlasts a disconnect. Connecting takes 300 ms and
// disconnecting 200 ms, long enough for the specs of the transient states to
// act in them even on a loaded machine.
var _ = testenv.HarnessPerProcess(&h, func(h *harness.Harness) {
	cfg = suites.Config{
		Endpoint:    h.KMSEndpoint(),
		Region:      h.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, ""),
		Control:     h.ControlClient(),
		// The harness connects within a second: a stuck store fails its
		// spec after a minute, not the 20 minutes AWS may take.
		ConnectTimeout: time.Minute,
	}
}, harness.WithKMSOptions(kms.WithDayLength(25*time.Millisecond),
	kms.WithConnectDelay(300*time.Millisecond), kms.WithDisconnectDelay(200*time.Millisecond),
	kms.WithSessionCheck(100*time.Millisecond), kms.WithStepHook(gates.hook)))

var _ = suites.Register(&cfg)
