package scenarios_test

import (
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/testenv"
)

// The scenarios judge any target: they reach it through the AWS SDK and
// the control client only, never through kmsharness's own internals.
var _ = It("depends on the control client, the AWS SDK and porcupine, not on kmsharness's internals", func() {
	cmd := exec.Command("go", "list", "-deps", "./scenarios")
	cmd.Dir = testenv.ModuleRoot()
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred())
	deps := strings.Fields(string(out))
	Expect(deps).To(ContainElements("github.com/aws/aws-sdk-go-v2/service/kms", "github.com/anishathalye/porcupine",
		"github.com/kmsharness/kmsharness/control"), "the list is real")
	const module = "github.com/kmsharness/kmsharness/"
	for _, dep := range deps {
		for _, banned := range []string{"docker", "testcontainers", "toxiproxy", "miekg/pkcs11"} {
			Expect(dep).NotTo(ContainSubstring(banned))
		}
		if strings.HasPrefix(dep, module) {
			// sdkhttp and sdkbody are HTTP plumbing for SDK clients (a fix
			// of the SDK's own), not the implementation under test.
			Expect(dep).To(BeElementOf(module+"control", module+"scenarios", module+"internal/sdkhttp", module+"internal/sdkbody"), "scenarios imports %s", dep)
		}
	}
})
