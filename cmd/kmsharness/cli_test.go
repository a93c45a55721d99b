package main_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/kmsharness/kmsharness/internal/testenv"
)

var bin string

func TestCLI(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	RunSpecs(t, "kmsharness CLI")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	// hsmnode beside kmsharness: bin/ after make build, else both built here.
	dir := testenv.BinDir("cli")
	_, err := testenv.ProjectBinary(dir, "./cmd/hsmnode")
	Expect(err).NotTo(HaveOccurred())
	path, err := testenv.ProjectBinary(dir, "./cmd/kmsharness")
	Expect(err).NotTo(HaveOccurred())
	return []byte(path)
}, func(path []byte) {
	bin = string(path)
	// In-process harnesses of these specs use the hsmnode built beside it.
	Expect(os.Setenv("KMSHARNESS_HSMNODE", filepath.Join(filepath.Dir(bin), "hsmnode"))).To(Succeed())
})

// up starts `kmsharness up --print-env` and returns its variables, the
// process, and a channel that yields its exit error.
func up(args ...string) (map[string]string, *exec.Cmd, <-chan error) {
	cmd := exec.Command(bin, append([]string{"up", "--print-env"}, args...)...)
	cmd.Env = append(os.Environ(), "KMSHARNESS_HSMNODE=") // use the hsmnode next to the binary (it is there)
	cmd.Stderr = GinkgoWriter
	out, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	vars := readExports(out, "AWS_SECRET_ACCESS_KEY")
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, out)
		exited <- cmd.Wait()
		close(done)
	}()
	DeferCleanup(func() {
		// Stop it as a user would, so that it removes its files; kill it
		// only if it does not stop.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return vars, cmd, exited
}

// readExports reads export lines until the one for last.
func readExports(r io.Reader, last string) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		Expect(ok).To(BeTrue(), "line %q", sc.Text())
		vars[name] = strings.Trim(value, "'")
		if name == last {
			break
		}
	}
	return vars
}

var _ = Describe("kmsharness up", func() {
	It("prints every variable once ready, and stops every node on SIGTERM", func() {
		vars, cmd, exited := up()
		for _, name := range []string{"KMS_ENDPOINT", "CLOUDHSM_ENDPOINT", "KMSHARNESS_CONTROL", "KMSHARNESS_CONTROL_TOKEN", "CLUSTER_ID", "TRUST_ANCHOR_FILE",
			"KMSUSER_PASSWORD", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			Expect(vars).To(HaveKeyWithValue(name, Not(BeEmpty())), name)
		}
		Expect(vars["CLUSTER_ID"]).To(MatchRegexp(`^cluster-[2-7a-z]{11}$`))
		Expect(vars["TRUST_ANCHOR_FILE"]).To(BeARegularFile())
		Expect(vars["KMS_ENDPOINT"]).To(HavePrefix("http://127.0.0.1:"))

		created := exec.Command(bin, "cluster", "create", "--print-env", "--hsms", "3")
		created.Env = append(os.Environ(), "KMSHARNESS_CONTROL="+vars["KMSHARNESS_CONTROL"], "KMSHARNESS_CONTROL_TOKEN="+vars["KMSHARNESS_CONTROL_TOKEN"])
		out, err := created.Output()
		Expect(err).NotTo(HaveOccurred())
		more := readExports(strings.NewReader(string(out)), "KMSUSER_PASSWORD")
		Expect(more["CLUSTER_ID"]).To(MatchRegexp(`^cluster-`))
		Expect(more["CLUSTER_ID"]).NotTo(Equal(vars["CLUSTER_ID"]))
		Expect(more["TRUST_ANCHOR_FILE"]).To(BeARegularFile())

		// Clusters and faults through the control API.
		run := func(args ...string) (string, int) {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "KMSHARNESS_CONTROL="+vars["KMSHARNESS_CONTROL"], "KMSHARNESS_CONTROL_TOKEN="+vars["KMSHARNESS_CONTROL_TOKEN"])
			cmd.Stderr = GinkgoWriter
			out, err := cmd.Output()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return string(out), ee.ExitCode()
			}
			Expect(err).NotTo(HaveOccurred())
			return string(out), 0
		}
		fault := func(args ...string) (string, int) { return run(append([]string{"fault"}, args...)...) }
		described, status := run("cluster", "describe", more["CLUSTER_ID"])
		Expect(status).To(BeZero())
		Expect(described).To(HavePrefix(more["CLUSTER_ID"] + "\tACTIVE\n"))
		Expect(regexp.MustCompile(`(?m)^hsm-[2-7a-z]{11} .*ACTIVE$`).FindAllString(described, -1)).To(HaveLen(3), described)
		_, status = run("cluster", "delete", more["CLUSTER_ID"])
		Expect(status).To(BeZero())
		_, status = run("cluster", "describe", "cluster-aaaaaaaaaaa")
		Expect(status).To(Equal(2), "describe an unknown cluster")
		_, status = run("cluster", "delete", more["CLUSTER_ID"])
		Expect(status).To(Equal(2), "delete a deleted cluster")
		_, status = run("cluster", "describe")
		Expect(status).To(Equal(2), "describe without an ID")
		list, status := fault("list")
		Expect(status).To(BeZero())
		Expect(list).To(ContainSubstring("user-locked-out"))
		Expect(list).To(ContainSubstring("USER_LOCKED_OUT"))
		_, status = fault("inject", "user-locked-out", "--cluster", vars["CLUSTER_ID"])
		Expect(status).To(BeZero())
		_, status = fault("inject", "user-locked-out", "--cluster", vars["CLUSTER_ID"])
		Expect(status).To(Equal(2), "the same fault twice")
		healed, status := fault("heal", "user-locked-out", "--cluster", vars["CLUSTER_ID"])
		Expect(status).To(BeZero())
		Expect(healed).To(MatchRegexp(`^export KMSUSER_PASSWORD=\S{24}\n$`))
		_, status = fault("inject", "no-such-fault", "--cluster", vars["CLUSTER_ID"])
		Expect(status).To(Equal(2), "unknown fault")
		_, status = fault("inject", "user-locked-out", "--cluster", "cluster-aaaaaaaaaaa")
		Expect(status).To(Equal(2), "unknown cluster")
		_, status = fault("heal", "internal-error", "--cluster", vars["CLUSTER_ID"])
		Expect(status).To(Equal(2), "heal of a fault not in place")
		_, status = fault("inject")
		Expect(status).To(Equal(2), "inject without a name")
		wrongToken := exec.Command(bin, "fault", "list")
		wrongToken.Env = append(os.Environ(), "KMSHARNESS_CONTROL="+vars["KMSHARNESS_CONTROL"], "KMSHARNESS_CONTROL_TOKEN=not-the-token")
		session, err := gexec.Start(wrongToken, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).Should(gexec.Exit(2), "a wrong control token")

		dir := filepath.Dir(filepath.Dir(filepath.Dir(vars["TRUST_ANCHOR_FILE"])))
		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Eventually(exited).Should(Receive(BeNil()), "exit status 0")
		Expect(dir).NotTo(BeADirectory(), "the harness removed its files")
		Expect(nodesUnder(dir)).To(BeEmpty(), "no hsmnode of this harness runs")
	})

	It("runs the conformance suites against an endpoint, with a report, and exits 1 when they fail", func() {
		vars, _, _ := up("--deletion-day", "25ms", "--access-key", "AKIAEXTRAKEY00000001:extra-secret")
		dir := GinkgoT().TempDir()
		conformance := func(endpoint string, args ...string) int {
			cmd := exec.Command(bin, append([]string{"conformance", "--endpoint", endpoint}, args...)...)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+vars["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY="+vars["AWS_SECRET_ACCESS_KEY"],
				"AWS_REGION="+vars["AWS_REGION"], "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).WithTimeout(5 * time.Minute).Should(gexec.Exit())
			return session.ExitCode()
		}
		report := filepath.Join(dir, "report.md")
		junit := filepath.Join(dir, "junit.xml")
		Expect(conformance(vars["KMS_ENDPOINT"], "--control", vars["KMSHARNESS_CONTROL"], "--control-token", vars["KMSHARNESS_CONTROL_TOKEN"], "--report", report, "--junit-report", junit,
			"--ginkgo.label-filter", "api:protocol || api:auth || api:ListKeys || api:DeleteCustomKeyStore")).To(Equal(0))
		md, err := os.ReadFile(report)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("| ListKeys | "))
		Expect(string(md)).To(MatchRegexp(`\d+ passed, 0 failed`))
		Expect(junit).To(BeARegularFile())

		// --access-key adds a key pair the endpoints accept.
		status, errType := listKeys(vars["KMS_ENDPOINT"], aws.Credentials{AccessKeyID: "AKIAEXTRAKEY00000001", SecretAccessKey: "extra-secret"}, vars["AWS_REGION"])
		Expect(status).To(Equal(200), errType)
		status, errType = listKeys(vars["KMS_ENDPOINT"], aws.Credentials{AccessKeyID: "AKIAEXTRAKEY00000002", SecretAccessKey: "extra-secret"}, vars["AWS_REGION"])
		Expect(errType).To(Equal("UnrecognizedClientException"), "status %d", status)

		// A target that is not there fails the preflight.
		Expect(conformance("http://127.0.0.1:9", "--ginkgo.label-filter", "api:protocol")).To(Equal(2))
		Expect(conformance("")).To(Equal(2), "no endpoint")
	})

	It("prints its version, and lists the built-in faults without a harness", func() {
		for args, want := range map[string]string{"version": `^kmsharness \S+.* go1\.\d+`, "fault list --builtin": `(?m)^user-locked-out +USER_LOCKED_OUT +cluster `} {
			cmd := exec.Command(bin, strings.Fields(args)...)
			cmd.Env = append(os.Environ(), "KMSHARNESS_CONTROL=", "KMSHARNESS_CONTROL_TOKEN=")
			out, err := cmd.Output()
			Expect(err).NotTo(HaveOccurred(), args)
			Expect(string(out)).To(MatchRegexp(want), args)
		}
	})

	It("with --auth none, serves unsigned requests, which it refuses by default", func() {
		vars, _, _ := up("--auth", "none")
		status, errType := listKeys(vars["KMS_ENDPOINT"], aws.Credentials{}, vars["AWS_REGION"])
		Expect(status).To(Equal(200), errType)
		status, errType = listKeys(vars["KMS_ENDPOINT"], aws.Credentials{AccessKeyID: "AKIAANYTHING00000000", SecretAccessKey: "any"}, vars["AWS_REGION"])
		Expect(status).To(Equal(200), errType)
	})

	It("exits 2 on a bad command line, and cluster create without a harness", func() {
		for _, args := range [][]string{{"nope"}, {"up", "--hsms", "0"}, {"up", "--bogus"}, {"up", "--backend", "bogus"}, {"cluster", "create"},
			{"fault", "list"}, {"cluster", "describe", "cluster-aaaaaaaaaaa"},
			{"up", "--auth", "maybe"}, {"up", "--access-key", "no-secret"}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "KMSHARNESS_CONTROL=", "KMSHARNESS_CONTROL_TOKEN=")
			session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).Should(gexec.Exit(2), "kmsharness %v", args)
		}
		// A missing argument is named, with the command's usage.
		cmd := exec.Command(bin, "fault", "inject")
		out, err := cmd.CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("usage: kmsharness fault inject NAME --cluster ID"))
		Expect(strings.Count(string(out), "\n")).To(Equal(1), "one line")
		// An HSM fault without --hsm says where HSM IDs come from.
		cmd = exec.Command(bin, "fault", "inject", "node-killed", "--cluster", "cluster-aaaaaaaaaaa")
		out, err = cmd.CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("kmsharness cluster describe cluster-aaaaaaaaaaa lists the cluster's HSMs"))
	})
})

// listKeys sends ListKeys to a KMS endpoint, signed with creds (unsigned
// without an access key), and returns the status and the error type.
func listKeys(endpoint string, creds aws.Credentials, region string) (int, string) {
	req, err := testenv.AWSJSONRequest(context.Background(), endpoint+"/", "TrentService.ListKeys", []byte(`{}`), creds, "kms", region, time.Now())
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType")
}

// nodesUnder lists hsmnode processes whose data directory is under dir.
func nodesUnder(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "hsmnode") && strings.Contains(string(cmdline), dir) {
			found = append(found, e.Name())
		}
	}
	return found
}

// BenchmarkUpToReady measures `kmsharness up` from start to its printed
// environment (control plane, a 2-HSM cluster, the KMS front end).
// cpu-ms/op is the CPU time of kmsharness and its HSM nodes, shutdown
// included: on a shared machine it moves less than the wall time.
//
//	go test ./cmd/kmsharness -run '^$' -bench UpToReady -benchtime 10x
func BenchmarkUpToReady(b *testing.B) {
	dir := b.TempDir()
	if _, err := testenv.BuildBinary(dir, "./cmd/hsmnode"); err != nil {
		b.Fatal(err)
	}
	kmsharness, err := testenv.BuildBinary(dir, "./cmd/kmsharness")
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := testenv.CPUTime()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, kmsharness, "up", "--print-env")
		cmd.Env = append(os.Environ(), "KMSHARNESS_HSMNODE=")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), "AWS_SECRET_ACCESS_KEY") {
		}
		b.StopTimer()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		cancel()
		b.StartTimer()
	}
	b.ReportMetric(float64(testenv.CPUTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
