package cloudhsm_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

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

var _ = testenv.HarnessPerProcess(&h, nil)
