package harness_test

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// h is this test process's harness; every spec makes its own clusters in
// it, so specs share no mutable state.
var h *harness.Harness

func TestMain(m *testing.M) {
	if os.Getenv(orphanChildEnv) != "" {
		os.Exit(runOrphanChild())
	}
	os.Exit(m.Run())
}

func TestHarness(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	RunSpecs(t, "harness")
}

var _ = testenv.HarnessPerProcess(&h, nil)

// newCluster makes a ready cluster for one spec.
func newCluster(opts ...harness.ClusterOption) *harness.Cluster {
	c, err := h.NewCluster(context.Background(), opts...)
	Expect(err).NotTo(HaveOccurred())
	return c
}
