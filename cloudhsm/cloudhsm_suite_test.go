package cloudhsm_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// h runs the control plane under test, with real hsmnode processes behind
// it; each spec makes its own clusters.
var h *harness.Harness

func TestCloudHSM(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(10 * time.Millisecond)
	RunSpecs(t, "cloudhsm")
}

// The transitions take 300 ms rather than the default 20 ms: specs look at
// the in-progress states (INITIALIZE_IN_PROGRESS after InitializeCluster),
// which a loaded machine could otherwise let pass before the next call.
var _ = testenv.HarnessPerProcess(&h, nil, harness.WithControlPlaneDelays(cloudhsm.Delays{
	CreateCluster: 300 * time.Millisecond, InitializeCluster: 300 * time.Millisecond, DeleteCluster: 300 * time.Millisecond}))
