package main_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"golang.org/x/net/html"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/brokenkms"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/suites"
)

// conformance runs kmsharness conformance with args, its output piped (not
// a terminal), and returns its stdout, stderr and exit status.
func conformance(env []string, args ...string) (stdout, stderr string, status int) {
	cmd := osexec.Command(bin, append([]string{"conformance"}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"KMS_ENDPOINT=", "NO_COLOR="}, env...)...)
	var out, errOut teeBuffer
	session, err := gexec.Start(cmd, &out, &errOut)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(5 * time.Minute).Should(gexec.Exit())
	return out.String(), errOut.String(), session.ExitCode()
}

// teeBuffer keeps what it is given and shows it in the spec's output.
type teeBuffer struct{ strings.Builder }

func (b *teeBuffer) Write(p []byte) (int, error) {
	_, _ = GinkgoWriter.Write(p)
	return b.Builder.Write(p)
}

// lines splits output into its lines.
func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

var _ = Describe("kmsharness conformance's command line", func() {
	It("shows its own usage and flags with --help, and Ginkgo's behind --help-ginkgo", func() {
		out, errOut, status := conformance(nil, "--help")
		Expect(status).To(Equal(0))
		Expect(errOut).To(BeEmpty())
		Expect(out).To(HavePrefix("Usage: kmsharness conformance --endpoint URL [flags]\n"))
		for _, flag := range []string{"--endpoint URL", "--cluster ID,TRUST_ANCHOR_FILE,PASSWORD", "--control URL", "--report FILE", "--report-dir DIR",
			"--junit-report FILE", "--rule ID", "--connect-timeout DURATION", "--list", "--help-ginkgo"} {
			Expect(out).To(ContainSubstring("\n  "+flag+"\n"), flag)
		}
		Expect(out).NotTo(ContainSubstring("--ginkgo.seed"), "Ginkgo's flags wait behind --help-ginkgo")
		Expect(len(lines(out))).To(BeNumerically("<", 60), "one screen")
		short, _, status := conformance(nil, "-h")
		Expect(status).To(Equal(0))
		Expect(short).To(Equal(out))
		help, err := osexec.Command(bin, "help", "conformance").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(help)).To(Equal(out), "kmsharness help conformance")

		out, errOut, status = conformance(nil, "--help-ginkgo")
		Expect(status).To(Equal(0))
		Expect(errOut).To(BeEmpty())
		for _, flag := range []string{"--ginkgo.label-filter", "--ginkgo.focus", "--ginkgo.seed", "--ginkgo.v", "--ginkgo.json-report"} {
			Expect(out).To(ContainSubstring(flag))
		}
		Expect(len(lines(out))).To(BeNumerically(">", 80))
		Expect(out).NotTo(ContainSubstring("\x1b["), "no colour when the output is not a terminal")
	})

	// noCredentials is an AWS environment without credentials.
	noCredentials := []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	credentials := slices.Concat(noCredentials, []string{"AWS_ACCESS_KEY_ID=AKIAEXAMPLE000000001", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1"})
	DescribeTable("answers a bad command line or a failed preflight with one line and exit status 2",
		func(env []string, want string, args ...string) {
			out, errOut, status := conformance(env, args...)
			Expect(status).To(Equal(2))
			Expect(out).To(BeEmpty())
			Expect(lines(errOut)).To(HaveLen(1), errOut)
			Expect(errOut).To(HavePrefix("kmsharness: "))
			Expect(errOut).To(ContainSubstring(want))
		},
		Entry("an unknown flag", []string(nil), "flag provided but not defined: -no-such-flag", "--endpoint", "http://127.0.0.1:9", "--no-such-flag"),
		Entry("a flag without its value", []string(nil), "flag needs an argument", "--endpoint"),
		Entry("no endpoint", []string(nil), "no endpoint"),
		Entry("an endpoint that is no URL", []string(nil), "want an http:// or https:// URL", "--endpoint", "127.0.0.1:9"),
		Entry("a report of an unknown format", []string(nil), "the name must end in .html, .md, .json or .xml", "--endpoint", "http://127.0.0.1:9", "--report", "report.txt"),
		Entry("an argument", []string(nil), `unexpected argument "extra"`, "--endpoint", "http://127.0.0.1:9", "extra"),
		Entry("an unknown rule", []string(nil), "--rule CKS-NOPE-999: no such rule", "--endpoint", "http://127.0.0.1:9", "--rule", "CKS-NOPE-999"),
		Entry("a bad cluster", []string(nil), "want ID,TRUST_ANCHOR_FILE,PASSWORD", "--endpoint", "http://127.0.0.1:9", "--cluster", "cluster-abc"),
		Entry("a connect timeout of zero", []string(nil), "--connect-timeout must be positive", "--endpoint", "http://127.0.0.1:9", "--connect-timeout", "0s"),
		Entry("no credentials", noCredentials, "preflight: credentials: none found", "--endpoint", "http://127.0.0.1:9"),
		Entry("an endpoint that does not answer", credentials, "preflight: endpoint: http://127.0.0.1:9 does not answer", "--endpoint", "http://127.0.0.1:9"),
	)

	It("lists the rules with --list: ID, operation and text, one a line", func() {
		out, errOut, status := conformance(nil, "--list")
		Expect(status).To(Equal(0))
		Expect(errOut).To(BeEmpty())
		rules := suites.Rules()
		Expect(rules).NotTo(BeEmpty())
		got := lines(out)
		Expect(got).To(HaveLen(len(rules) + 3)) // a heading, a blank line and the count
		Expect(strings.Fields(got[0])).To(Equal([]string{"ID", "OPERATION", "RULE"}))
		for i, r := range rules {
			Expect(strings.Join(strings.Fields(got[i+1]), " ")).To(Equal(strings.Join(strings.Fields(r.ID+" "+r.Operation+" "+r.Text), " ")))
		}
		Expect(got[len(got)-1]).To(HavePrefix(fmt.Sprintf("%d rules; kit %s", len(rules), suites.KitVersion)))
	})
})

// results is the JSON results file.
type results struct {
	Endpoint string `json:"endpoint"`
	Seed     int64  `json:"seed"`
	Passed   bool   `json:"passed"`
	Results  []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"results"`
}

func readResults(path string) (results, map[string]string, map[string]string) {
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var r results
	Expect(json.Unmarshal(raw, &r)).To(Succeed())
	status, reason := map[string]string{}, map[string]string{}
	for _, res := range r.Results {
		status[res.ID], reason[res.ID] = res.Status, res.Reason
	}
	return r, status, reason
}

var _ = Describe("kmsharness conformance's reports of a real run", Label("kind:slow"), Ordered, func() {
	var h *harness.Harness
	var env []string
	BeforeAll(func(ctx SpecContext) {
		var err error
		// The broken variant fronts a KMS that checks no signature (see brokenkms).
		h, err = harness.Start(ctx, harness.WithAuth(harness.AuthNone))
		DeferCleanup(func() { _ = h.Close(context.Background()) })
		Expect(err).NotTo(HaveOccurred())
		env = []string{"AWS_ACCESS_KEY_ID=" + harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + harness.SecretAccessKey,
			"AWS_REGION=" + h.Region(), "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	})

	It("names the rule a broken front end breaks, with the failures first and a one-line reason, in every report and the summary", func(ctx SpecContext) {
		v := brokenkms.Variants[0]
		broken := httptest.NewServer(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.KMS().Handler().ServeHTTP(w, r)
		})))
		DeferCleanup(broken.Close)
		dir := GinkgoT().TempDir()
		out, _, status := conformance(env, "--endpoint", broken.URL, "--control", h.ControlEndpoint(), "--control-token", h.ControlToken(),
			"--rule", v.Rule, "--report-dir", dir, "--ginkgo.seed", "77")
		Expect(status).To(Equal(1), "a rule failed")
		Expect(out).NotTo(ContainSubstring("\x1b["), "no colour when the output is not a terminal")

		// The summary.
		Expect(out).To(MatchRegexp(`(?m)^FAIL  \d+ rules: \d+ passed, [1-9]\d* failed, \d+ skipped, \d+ inconclusive — conformance kit `))
		Expect(out).To(MatchRegexp(`(?m)^failed:$`))
		Expect(out).To(MatchRegexp(`(?m)^  `+v.Rule+`  .+$`), "the rule and its reason on one line")
		Expect(out).To(ContainSubstring("reports: " + filepath.Join(dir, "report.html")))

		// The JSON results: every rule, the broken one failed in one line.
		r, statuses, reasons := readResults(filepath.Join(dir, "results.json"))
		Expect(r.Endpoint).To(Equal(broken.URL))
		Expect(r.Seed).To(BeEquivalentTo(77))
		Expect(r.Passed).To(BeFalse())
		Expect(r.Results).To(HaveLen(len(suites.Rules())))
		Expect(statuses).To(HaveKeyWithValue(v.Rule, "fail"))
		Expect(reasons[v.Rule]).NotTo(BeEmpty())
		Expect(reasons[v.Rule]).NotTo(ContainSubstring("\n"))
		Expect(reasons[v.Rule]).NotTo(ContainSubstring("0x"), "no struct dump")
		notRun := 0
		for id, s := range statuses {
			if s == "skip" && reasons[id] == suites.NotRun {
				notRun++
			}
		}
		Expect(notRun).To(BeNumerically(">", 0), "the rules the filter left out")

		// JUnit: one testcase per rule.
		raw, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		var junit struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testsuite>testcase"`
		}
		Expect(xml.Unmarshal(raw, &junit)).To(Succeed())
		Expect(junit.Cases).To(HaveLen(len(suites.Rules())))

		// The HTML page as a browser shows it.
		dom, err := testenv.RenderHTML(ctx, filepath.Join(dir, "report.html"))
		Expect(err).NotTo(HaveOccurred())
		doc, err := html.Parse(strings.NewReader(dom))
		Expect(err).NotTo(HaveOccurred())
		for id, want := range map[string]string{"endpoint": broken.URL, "seed": "77", "kit-version": suites.KitVersion, "model-version": suites.ModelVersion} {
			el := testenv.ElementByID(doc, id)
			Expect(el).NotTo(BeNil(), id)
			Expect(testenv.Text(el)).To(Equal(want), id)
		}
		rows := testenv.Elements(doc, func(n *html.Node) bool { return n.Data == "tr" && testenv.HasClass(n, "rule") })
		Expect(rows).NotTo(BeEmpty())
		Expect(testenv.HasClass(rows[0], "fail")).To(BeTrue(), "failures come first")
		Expect(testenv.Attr(rows[0], "data-rule")).To(HavePrefix("CKS-"))
		var broke []*html.Node
		for _, row := range rows {
			if testenv.Attr(row, "data-rule") == v.Rule {
				broke = append(broke, row)
			}
		}
		Expect(broke).To(HaveLen(2), "in the failures, and with its operation")
		Expect(testenv.HasClass(broke[0], "fail")).To(BeTrue())

		md, err := os.ReadFile(filepath.Join(dir, "report.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(HavePrefix("# FAIL"))
	})

	It("passes a target that keeps the rules, exit status 0, with time for a real account's connects", func() {
		report := filepath.Join(GinkgoT().TempDir(), "out", "results.json")
		ginkgoReport := filepath.Join(GinkgoT().TempDir(), "ginkgo.json")
		out, _, status := conformance(env, "--endpoint", h.KMSEndpoint(), "--control", h.ControlEndpoint(), "--control-token", h.ControlToken(),
			"--label-filter", "api:ListKeys", "--report", report, "--ginkgo.json-report", ginkgoReport)
		Expect(status).To(Equal(0), out)
		raw, err := os.ReadFile(ginkgoReport)
		Expect(err).NotTo(HaveOccurred())
		var runs []types.Report
		Expect(json.Unmarshal(raw, &runs)).To(Succeed())
		Expect(runs).To(HaveLen(1))
		Expect(runs[0].SuiteConfig.Timeout).To(Equal(24*time.Hour), "Ginkgo's hour is too short for 20-minute connects")
		Expect(out).To(MatchRegexp(`(?m)^PASS  \d+ rules: [1-9]\d* passed, 0 failed`))
		Expect(out).NotTo(ContainSubstring("\x1b["))
		r, statuses, _ := readResults(report)
		Expect(r.Passed).To(BeTrue())
		Expect(statuses).To(ContainElement("pass"))
		Expect(statuses).NotTo(ContainElement("fail"))
	})
})

var _ = Describe("kmsharness conformance with one cluster and no control API", Label("kind:slow"), Ordered, func() {
	var h *harness.Harness
	var env []string
	var cluster string
	BeforeAll(func(ctx SpecContext) {
		// Default options, as kmsharness up has them: days of 24 h, so the
		// shared store's keys keep it (and the cluster) past the run, as on
		// a real account.
		var err error
		h, err = harness.Start(ctx)
		DeferCleanup(func() { _ = h.Close(context.Background()) })
		Expect(err).NotTo(HaveOccurred())
		c, err := h.NewCluster(ctx)
		Expect(err).NotTo(HaveOccurred())
		cluster = strings.Join([]string{c.ID, c.TrustAnchorFile, c.KMSUserPassword}, ",")
		env = []string{"AWS_ACCESS_KEY_ID=" + harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + harness.SecretAccessKey,
			"AWS_REGION=" + h.Region(), "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	})

	// notPassed runs the kit on the one cluster and returns the rules that
	// did not pass, with their status and reason.
	notPassed := func() map[string]string {
		report := filepath.Join(GinkgoT().TempDir(), "results.json")
		out, _, status := conformance(env, "--endpoint", h.KMSEndpoint(), "--cluster", cluster, "--report", report)
		Expect(status).To(Equal(0), out)
		_, statuses, reasons := readResults(report)
		Expect(statuses).NotTo(ContainElement("fail"))
		left := map[string]string{}
		for id, s := range statuses {
			if s != "pass" {
				left[id] = s + ": " + reasons[id]
			}
		}
		return left
	}
	// unavoidable are the rules one cluster and no control API cannot
	// check: two stores at once, the quota, holds and faults.
	unavoidable := []string{"CKS-CREATE-002", "CKS-CREATE-003", "CKS-UPDATE-002", "CKS-DESCRIBE-002",
		"CKS-CREATE-004", "CKS-CONNECT-003", "CKS-DISCONNECT-002"}
	for _, r := range suites.Rules() {
		if strings.HasPrefix(r.ID, "CKS-FAULT-") {
			unavoidable = append(unavoidable, r.ID)
		}
	}

	It("runs every spec one cluster allows, the stores of their own before the store with keys takes it", func() {
		left := notPassed()
		Expect(slices.Sorted(maps.Keys(left))).To(ConsistOf(unavoidable), "the rules left: %v", left)
	})

	It("runs again on that cluster, its store with keys found again, and says why the specs that needed it free skip", func() {
		left := notPassed()
		Expect(slices.Sorted(maps.Keys(left))).To(ConsistOf(append(unavoidable, "CKS-CREATE-001", "CKS-DELETE-002", "CKS-CONNECT-002")))
		Expect(left["CKS-CREATE-001"]).To(ContainSubstring("the store with keys of an earlier run"))
		Expect(left["CKS-DELETE-002"]).To(ContainSubstring("the store with keys of an earlier run"))
		Expect(left["CKS-CONNECT-002"]).To(ContainSubstring("has connected"))
	})
})
