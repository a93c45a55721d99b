package softhsm_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/softhsm"
)

// module is the process's one SoftHSM instance; every spec makes its own
// tokens in it, so specs never share a token.
var module *softhsm.Module

func TestSoftHSM(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "softhsm")
}

var _ = BeforeSuite(func() {
	conf, err := softhsm.WriteConfig(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	module, err = softhsm.OpenModule(testenv.SoftHSMLibrary(), conf)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(module.Close)
})
