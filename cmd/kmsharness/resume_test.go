package main_test

import (
	"os"
	"os/exec"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// faultCLI runs `kmsharness fault args...` against a run's control API and
// returns its exit status and standard output.
func faultCLI(r *upRun, args ...string) (int, string) {
	cmd := exec.Command(bin, append([]string{"fault"}, args...)...)
	cmd.Env = append(os.Environ(), "KMSHARNESS_CONTROL="+r.vars["KMSHARNESS_CONTROL"], "KMSHARNESS_CONTROL_TOKEN="+r.vars["KMSHARNESS_CONTROL_TOKEN"])
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).Should(gexec.Exit())
	return session.ExitCode(), string(session.Out.Contents())
}

var _ = Describe("kmsharness up --data-dir resumed after a kill", func() {
	It("faults and heals the cluster it resumed, network errors included", func() {
		dir := GinkgoT().TempDir()
		first := startUp(dir, true)
		first.kill(dir)
		next := startUp(dir, true)
		Expect(next.vars["CLUSTER_ID"]).To(Equal(first.vars["CLUSTER_ID"]), "the resumed cluster")
		for _, name := range []string{"user-locked-out", "network-errors"} {
			status, _ := faultCLI(next, "inject", name, "--cluster", next.vars["CLUSTER_ID"])
			Expect(status).To(BeZero(), "inject %s", name)
			status, out := faultCLI(next, "heal", name, "--cluster", next.vars["CLUSTER_ID"])
			Expect(status).To(BeZero(), "heal %s", name)
			if name == "user-locked-out" {
				Expect(out).To(MatchRegexp(`^export KMSUSER_PASSWORD=\S{24}\n$`))
			}
		}
		next.kill(dir)
	})
})
