package cloudhsm_test

import (
	"context"
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

var _ = SynchronizedBeforeSuite(func() []byte {
	bin, err := testenv.BuildHSMNodeOnce()
	Expect(err).NotTo(HaveOccurred())
	return bin
}, func(bin []byte) {
	Expect(testenv.UseHSMNode(bin)).To(Succeed())
	var err error
	h, err = harness.Start(context.Background(), harness.WithLogger(testenv.Logger(GinkgoWriter)))
	DeferCleanup(func() { Expect(h.Close(context.Background())).To(Succeed()) })
	Expect(err).NotTo(HaveOccurred())
})
