package kmsharnesstest_test

import (
	"fmt"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/kmsharnesstest"
	"github.com/kmsharness/kmsharness/suites"
)

// failures stands for the *testing.T a suite of yours passes to RunSpecs.
type failures struct{ failed bool }

func (f *failures) Fail() { f.failed = true }

// Embed kmsharness's conformance suites in a Ginkgo tree of your own and run
// them against a harness that a BeforeSuite starts (here only the rules of
// CreateCustomKeyStore). In your suite, Register goes at package level
// (var _ = suites.Register(&cfg)) and RunSpecs in your Test function.
func Example_conformanceSuites() {
	var cfg suites.Config // read when the specs run, so the BeforeSuite can fill it
	suites.Register(&cfg)
	ginkgo.BeforeSuite(func() {
		env := kmsharnesstest.Start(ginkgo.GinkgoT())
		cfg = suites.Config{
			Endpoint: env.Harness.KMSEndpoint(), Region: env.Region, Credentials: env.Credentials,
			Control: env.Harness.ControlClient(), // clusters on demand, and the fault specs
			// The harness connects within a second; against AWS leave it
			// at its default, the 20 minutes a connect may take.
			ConnectTimeout: time.Minute,
		}
	})

	gomega.RegisterFailHandler(ginkgo.Fail)
	suiteConfig, reporterConfig := ginkgo.GinkgoConfiguration()
	suiteConfig.LabelFilter = "api:CreateCustomKeyStore && !kind:slow"
	t := &failures{}
	passed := ginkgo.RunSpecs(t, "conformance", suiteConfig, reporterConfig)
	fmt.Println("passed:", passed && !t.failed)
	// Output:
	// passed: true
}
