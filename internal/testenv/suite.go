package testenv

import (
	"context"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
)

// HarnessPerProcess registers the suite set-up shared by suites that run
// against a harness: hsmnode is built once, then every parallel Ginkgo
// process starts its own harness (closed after the suite) and stores it in
// *h, then calls then (if not nil) with it. Specs make their own clusters in it. It returns true, so it can
// be called at package level: var _ = HarnessPerProcess(&h).
func HarnessPerProcess(h **harness.Harness, then func(*harness.Harness), opts ...harness.Option) bool {
	return ginkgo.SynchronizedBeforeSuite(func() []byte {
		bin, err := BuildHSMNodeOnce()
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		return bin
	}, func(bin []byte) {
		gomega.Expect(UseHSMNode(bin)).To(gomega.Succeed())
		started, err := harness.Start(context.Background(), append([]harness.Option{harness.WithLogger(Logger(ginkgo.GinkgoWriter))}, opts...)...)
		*h = started
		ginkgo.DeferCleanup(func() { gomega.Expect(started.Close(context.Background())).To(gomega.Succeed()) })
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		if then != nil {
			then(started)
		}
	})
}
