package main_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/brokenkms"
	"github.com/kmsharness/kmsharness/kms"
	"github.com/kmsharness/kmsharness/scenarios"
)

// chaos runs `kmsharness chaos ARGS` and returns its output and status.
func chaos(env []string, args ...string) (stdout, stderr string, status int) {
	cmd := exec.Command(bin, append([]string{"chaos"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(5 * time.Minute).Should(gexec.Exit())
	return string(session.Out.Contents()), string(session.Err.Contents()), session.ExitCode()
}

const tinyScenario = `name: tiny
description: one store, encryptions, a hung HSM for a second.
duration: 3s
keys: 1
workload:
  - op: encrypt
    rate: 20/s
  - op: decrypt
    rate: 20/s
steps:
  - at: 1s
    inject: node-hung
    cluster: 0
    hsm: 0
  - at: 2s
    heal: node-hung
    cluster: 0
    hsm: 0
`

var _ = Describe("kmsharness chaos", Label("kind:chaos"), func() {
	It("lists the built-in scenarios, one line each", func() {
		out, _, status := chaos(nil, "list")
		Expect(status).To(BeZero())
		lines := strings.Split(strings.TrimSpace(out), "\n")
		Expect(lines).To(HaveLen(len(scenarios.Builtins())))
		Expect(out).To(MatchRegexp(`(?m)^lockout-storm\s+30s\s+Wrong kmsuser passwords`))
		names, _, _ := chaos(nil, "list", "--names")
		Expect(strings.Fields(names)).To(ContainElements("partition-and-heal", "zone-loss", "nemesis-mix"))
	})

	It("exits 2 on a bad scenario file, naming the line and the field, and on a bad command line", func() {
		file := filepath.Join(GinkgoT().TempDir(), "bad.yaml")
		Expect(os.WriteFile(file, []byte("name: x\nduration: 10s\nclsuters: 2\n"), 0o600)).To(Succeed())
		_, errOut, status := chaos(nil, "run", file)
		Expect(status).To(Equal(2))
		Expect(errOut).To(ContainSubstring("bad.yaml:3: clsuters: unknown field"))
		_, errOut, status = chaos(nil, "run", "no-such-scenario")
		Expect(status).To(Equal(2))
		Expect(errOut).To(ContainSubstring("kmsharness chaos list"))
		_, errOut, status = chaos(nil, "run", "partition-and-heal", "--endpoint", "http://127.0.0.1:9")
		Expect(status).To(Equal(2))
		Expect(errOut).To(ContainSubstring("--endpoint needs --control"))
		_, _, status = chaos(nil, "run")
		Expect(status).To(Equal(2))
		_, _, status = chaos(nil, "check", filepath.Join(GinkgoT().TempDir(), "nothing-here"))
		Expect(status).To(Equal(2))
	})

	It("runs a scenario against a harness of its own, prints the replay command, and the replay runs the same seed", func() {
		file := filepath.Join(GinkgoT().TempDir(), "tiny.yaml")
		Expect(os.WriteFile(file, []byte(tinyScenario), 0o600)).To(Succeed())
		out, errOut, status := chaos(nil, "run", file)
		Expect(status).To(BeZero(), "%s\n%s", out, errOut)
		Expect(out).To(MatchRegexp(`(?m)^connection-states\s+PASS`))
		Expect(out).To(MatchRegexp(`(?m)^PASS tiny \(seed \d+, 3s\)`))
		Expect(out).NotTo(ContainSubstring("report:"), "a run that passed removes its report")
		Expect(errOut).To(ContainSubstring("inject node-hung on cluster 0 HSM 0 → ok"), "plain progress lines off a terminal")
		replay := regexp.MustCompile(`(?m)^replay: kmsharness chaos run (\S+) --seed (\d+)$`).FindStringSubmatch(out)
		Expect(replay).NotTo(BeNil(), out)
		Expect(replay[1]).To(Equal(file))

		dir := filepath.Join(GinkgoT().TempDir(), "report")
		out, _, status = chaos(nil, "run", replay[1], "--seed", replay[2], "--report", dir, "--keep", "--duration", "2s")
		Expect(status).To(BeZero(), out)
		Expect(out).To(ContainSubstring("(seed " + replay[2] + ", 2s)"))
		Expect(out).To(ContainSubstring("replay: kmsharness chaos run " + file + " --seed " + replay[2] + " --duration 2s"))
		Expect(filepath.Join(dir, "report.html")).To(BeARegularFile())
		out, _, status = chaos(nil, "check", dir)
		Expect(status).To(BeZero(), out)
		Expect(out).To(MatchRegexp(`(?m)^PASS tiny \(seed ` + replay[2] + `\)`))
	})

	It("runs against another endpoint through its control API, and exits 1 when a check fails", func(ctx SpecContext) {
		h, err := harness.Start(ctx, harness.WithKMSOptions(kms.WithDayLength(10*time.Millisecond)))
		DeferCleanup(func() { _ = h.Close(context.Background()) })
		Expect(err).NotTo(HaveOccurred())
		var variant brokenkms.ChaosVariant
		for _, v := range brokenkms.ChaosVariants() {
			if v.Check == "errors" {
				variant = v
			}
		}
		broken := httptest.NewServer(variant.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.KMS().Handler().ServeHTTP(w, r)
		})))
		DeferCleanup(broken.Close)
		// Disconnects outnumber connects, so that many land on a store
		// already DISCONNECTED, whatever the timing: their refusal is
		// what the broken front end answers with the wrong exception.
		file := filepath.Join(GinkgoT().TempDir(), "races.yaml")
		Expect(os.WriteFile(file, []byte("name: races\nduration: 3s\nkeys: 1\nworkload:\n  - op: connect\n    rate: 2/s\n  - op: disconnect\n    rate: 10/s\n"), 0o600)).To(Succeed())
		dir := filepath.Join(GinkgoT().TempDir(), "report")
		env := []string{"AWS_ACCESS_KEY_ID=" + harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + harness.SecretAccessKey, "AWS_REGION=" + h.Region(),
			"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
		out, errOut, status := chaos(env, "run", file, "--endpoint", broken.URL, "--control", h.ControlEndpoint(), "--control-token", h.ControlToken(), "--report", dir)
		Expect(status).To(Equal(1), "%s\n%s", out, errOut)
		Expect(out).To(MatchRegexp(`(?m)^errors\s+FAIL`))
		Expect(out).To(ContainSubstring("✗ errors: "))
		Expect(out).To(ContainSubstring("KMSInvalidStateException"))
		Expect(out).To(ContainSubstring("report: " + filepath.Join(dir, "report.html")))
		out, _, status = chaos(nil, "check", dir)
		Expect(status).To(Equal(1))
		Expect(out).To(MatchRegexp(`(?m)^FAIL races`))
	}, SpecTimeout(5*time.Minute))
})
