package suites

import (
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// groups are the spec groups, each a function adding its specs for a config
// (but for ownStoreSpecs, which Register puts first: see takeCluster).
var groups = []func(s *suite){
	protocolSpecs,
	authSpecs,
	keyStoreLifecycleSpecs,
	keyStoreValidationSpecs,
	transientStateSpecs,
	keySpecs,
	cryptoSpecs,
	aliasSpecs,
	paginationSpecs,
	faultSpecs,
}

// Register adds the suites to the caller's Ginkgo tree, in a container of
// their own, and a ReportAfterSuite node that cleans up after the run (the
// shared store with keys, the clusters made through the control API), so
// it must be called at the top level of the tree. cfg is read when specs
// run, so it may be filled in later (in a BeforeSuite). It returns true so
// it can be called at package level:
//
//	var cfg suites.Config
//	var _ = suites.Register(&cfg)
//
// Budget tells what the run spent. Under ginkgo -p the clean-up runs in
// process 1 only (Ginkgo runs ReportAfterSuite there): the other processes'
// shared stores and made clusters are left to the target (a harness
// deletes them when it closes).
func Register(cfg *Config) bool {
	s := &suite{cfg: cfg}
	registered.mu.Lock()
	registered.suites = append(registered.suites, s)
	registered.mu.Unlock()
	ginkgo.ReportAfterSuite("conformance kit clean-up", func(ctx ginkgo.SpecContext, _ ginkgo.Report) {
		if cfg.Endpoint != "" {
			s.finish(ctx)
			ginkgo.GinkgoWriter.Println("conformance budget:", s.budgetNow())
		}
	}, ginkgo.NodeTimeout(24*time.Hour)) // finish bounds itself by the connect timeout, known only when it runs
	// Two top-level containers: Ginkgo shuffles top-level containers (all
	// specs with --randomize-all) and then runs them by priority, so the
	// first one's specs run before the rest either way.
	ginkgo.Describe("KMS custom key store API", ginkgo.Label("kind:conformance"), priorityOwnStore, func() {
		ownStoreSpecs(s)
	})
	return ginkgo.Describe("KMS custom key store API", ginkgo.Label("kind:conformance"), func() {
		for _, group := range groups {
			group(s)
		}
	})
}

// Run registers the suites with cfg and runs them as the test t, with
// Ginkgo's command-line flags (label filters, focus, reports).
func Run(t *testing.T, cfg Config) {
	Register(&cfg)
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, "KMS custom key store conformance")
}
