package suites

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/testenv"
)

// The report tests run a tiny Ginkgo tree of their own in a child process
// (Ginkgo runs one tree per process): this test binary again, with
// reportTreeEnv naming the directory for the reports it writes.
const reportTreeEnv = "KMSHARNESS_REPORT_TREE"

// treeRules is the tiny tree's rule table: every verdict a rule can get.
var treeRules = []Rule{
	{ID: "T-AWS-001", Operation: "Connect", Text: "connects a DISCONNECTED store."},
	{ID: "T-EQ-001", Operation: "Connect", Text: "is CONNECTING right after Connect."},
	{ID: "T-PASS-001", Operation: "Connect", Text: "answers Connect."},
	{ID: "T-TWO-001", Operation: "Connect", Text: "has two specs, one of which fails."},
	{ID: "T-STRUCT-001", Operation: "Describe", Text: "describes a fresh key as zero."},
	{ID: "T-PANIC-001", Operation: "Describe", Text: "does not panic."},
	{ID: "T-INC-001", Operation: "Describe", Text: "refuses everything while DISCONNECTING."},
	{ID: "T-PASS-002", Operation: "Describe", Text: "describes a store."},
	{ID: "T-SKIP-001", Operation: "Pagination", Text: "needs a cluster."},
	{ID: "T-LEFT-001", Operation: "Pagination", Text: "is left out by the label filter."},
	{ID: "T-NONE-001", Operation: "Pagination", Text: "has no spec."},
}

// errTreeCleanup is the error the tiny tree's clean-up fails with.
var errTreeCleanup = errors.New("3 stores left")

// treeSkip and treeInconclusive are the reasons the tiny tree skips with.
const (
	treeSkip         = "needs a CloudHSM cluster: none given"
	treeInconclusive = "the store left DISCONNECTING before it was observed"
)

// TestReportTree runs the tiny tree when reportTreeEnv is set (in the child).
func TestReportTree(t *testing.T) {
	if os.Getenv(reportTreeEnv) == "" {
		t.Skip("runs only as the report tests' child process")
	}
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, "report tree")
}

var _ = os.Getenv(reportTreeEnv) != "" && registerReportTree(os.Getenv(reportTreeEnv))

// awsErrorServer answers every KMS call with CustomKeyStoreInvalidStateException.
func awsErrorServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"CustomKeyStoreInvalidStateException","message":"The custom key store cks-0123456789abcdef0 is not DISCONNECTED."}`)
	}))
}

func registerReportTree(dir string) bool {
	srv := awsErrorServer()
	ginkgo.BeforeSuite(func() {}) // a set-up node: no testcase in the JUnit report
	// A clean-up that fails, as the kit's own could: no rule's failure.
	ginkgo.ReportAfterSuite("report tree clean-up", func(types.Report) {
		gomega.Expect(errTreeCleanup).NotTo(gomega.HaveOccurred(), "cleaning up")
	})
	ginkgo.ReportAfterSuite("report tree reports", func(r types.Report) {
		srv.Close()
		rep := newReport(r, RunInfo{Endpoint: srv.URL, Budget: "2 stores made, 0 left pending deletion, 1 cluster"}, treeRules)
		for _, name := range []string{"report.html", "report.md", "results.json", "junit.xml"} {
			gomega.Expect(rep.WriteFile(filepath.Join(dir, name))).To(gomega.Succeed())
		}
	})
	rule := func(id string) ginkgo.Labels { return ginkgo.Label(RuleLabel(id)) }
	ginkgo.Describe("the kit", ginkgo.Label(kitLabel, "report-tree"), func() {
		ginkgo.It("fails with the AWS error of a real SDK call", rule("T-AWS-001"), func(ctx ginkgo.SpecContext) {
			client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
			_, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String("cks-0123456789abcdef0")})
			gomega.Expect(err).NotTo(gomega.HaveOccurred(), "connecting")
		})
		ginkgo.It("fails an equality", rule("T-EQ-001"), func() {
			gomega.Expect(kmstypes.ConnectionStateTypeConnecting).To(gomega.Equal(kmstypes.ConnectionStateTypeConnected), "the state right after ConnectCustomKeyStore")
		})
		ginkgo.It("passes", rule("T-PASS-001"), func() {})
		ginkgo.It("passes, as one of two", rule("T-TWO-001"), func() {})
		ginkgo.It("fails, as one of two", rule("T-TWO-001"), func() {
			gomega.Expect([]string{"a", "b"}).To(gomega.HaveLen(3))
		})
		ginkgo.It("fails on a struct", rule("T-STRUCT-001"), func() {
			gomega.Expect(kmstypes.KeyMetadata{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab"), Enabled: true}).To(gomega.BeZero())
		})
		ginkgo.It("panics", rule("T-PANIC-001"), func() {
			panic("boom\nin two lines")
		})
		ginkgo.It("cannot decide", rule("T-INC-001"), func() {
			ginkgo.Skip(InconclusivePrefix + treeInconclusive)
		})
		ginkgo.It("passes, and passes another rule too", rule("T-PASS-002"), func() {})
		ginkgo.It("skips", rule("T-SKIP-001"), func() {
			ginkgo.Skip(treeSkip)
		})
		ginkgo.It("is left out", rule("T-LEFT-001"), ginkgo.Label("left-out"), func() {})
		ginkgo.It("names no rule", func() {})
	})
	return true
}

// treeFilter leaves out the specs of the report tests themselves and the
// tree's one spec that a filter leaves out.
const treeFilter = "report-tree && !left-out"

// runReportTree runs the tiny tree in a child process, which writes its
// reports to dir.
func runReportTree(ctx context.Context, dir string, seed int) error {
	return runTree(exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReportTree$", "-ginkgo.label-filter="+treeFilter,
		fmt.Sprintf("-ginkgo.seed=%d", seed), "-ginkgo.no-color"), dir)
}

// runReportTreeParallel runs the tiny tree under ginkgo -p, in three
// processes, whose first writes the reports from the merged report.
func runReportTreeParallel(ctx context.Context, dir string, seed int) error {
	cmd := exec.CommandContext(ctx, "go", "tool", "ginkgo", "-p", "--procs", "3", "--no-color", "--label-filter", treeFilter,
		fmt.Sprintf("--seed=%d", seed), "./suites", "--", "-test.run=^TestReportTree$")
	cmd.Dir = testenv.ModuleRoot()
	return runTree(cmd, dir)
}

// runTree runs a command that runs the tiny tree, which must fail (it has
// failing specs) after writing its reports to dir.
func runTree(cmd *exec.Cmd, dir string) error {
	cmd.Env = append(os.Environ(), reportTreeEnv+"="+dir)
	cmd.Stdout, cmd.Stderr = ginkgo.GinkgoWriter, ginkgo.GinkgoWriter
	err := cmd.Run()
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 1 {
		return nil
	}
	return fmt.Errorf("%s: %v (want exit status 1: the tree has failing specs)", cmd, err)
}
