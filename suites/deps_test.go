package suites_test

import (
	"os/exec"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/testenv"
)

func TestSuitesPackage(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "suites package")
}

// The conformance kit must stay light: it talks to targets through the AWS
// SDK only, so it pulls in no container, proxy, PKCS#11 or harness code.
var _ = It("depends on no Docker, toxiproxy, PKCS#11 or harness package", func() {
	cmd := exec.Command("go", "list", "-deps", "./suites")
	cmd.Dir = testenv.ModuleRoot()
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred())
	deps := strings.Fields(string(out))
	Expect(deps).To(ContainElement("github.com/aws/aws-sdk-go-v2/service/kms"), "the list is real")
	const module = "github.com/kmsharness/kmsharness/"
	for _, dep := range deps {
		for _, banned := range []string{"docker", "testcontainers", "toxiproxy", "miekg/pkcs11"} {
			Expect(dep).NotTo(ContainSubstring(banned))
		}
		for _, own := range []string{"harness", "softhsm", "cloudhsm", "kms"} {
			Expect(dep == module+own || strings.HasPrefix(dep, module+own+"/")).To(BeFalse(), "suites imports %s", dep)
		}
	}
})
