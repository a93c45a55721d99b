package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/brokenkms"
	"github.com/kmsharness/kmsharness/kms"
	"github.com/kmsharness/kmsharness/suites"
)

// failedRules returns the IDs of the rules whose specs failed, from a
// Ginkgo JSON report (an inconclusive or skipped spec is no failure).
func failedRules(path string) []string {
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var reports []types.Report
	Expect(json.Unmarshal(raw, &reports)).To(Succeed())
	var failed []string
	for _, r := range reports {
		for _, spec := range r.SpecReports {
			if spec.LeafNodeType != types.NodeTypeIt || !spec.State.Is(types.SpecStateFailureStates) {
				continue
			}
			for _, l := range spec.Labels() {
				if id, ok := strings.CutPrefix(l, suites.RuleLabel("")); ok {
					failed = append(failed, id)
				}
			}
		}
	}
	return failed
}

// kitHarness is this process's harness for the conformance kit's specs,
// started by the first of them to run here and closed after the suite: the
// specs share it (each runs the kit in a process of its own against its own
// broken front end) and run in parallel.
var kitHarness *harness.Harness

var _ = AfterSuite(func() {
	if kitHarness != nil {
		Expect(kitHarness.Close(context.Background())).To(Succeed())
	}
})

var _ = Describe("The conformance kit", Label("kind:slow"), func() {
	var h *harness.Harness
	BeforeEach(func(ctx SpecContext) {
		if kitHarness == nil {
			// The variants front a KMS that checks no signature (see brokenkms).
			started, err := harness.Start(ctx, harness.WithAuth(harness.AuthNone), harness.WithKMSOptions(kms.WithDayLength(25*time.Millisecond)))
			if err != nil {
				_ = started.Close(context.Background())
			}
			Expect(err).NotTo(HaveOccurred())
			kitHarness = started
		}
		h = kitHarness
	})

	entries := []TableEntry{}
	for _, v := range brokenkms.Variants {
		entries = append(entries, Entry(v.Name, v))
	}
	DescribeTable("fails a deliberately broken front end on the rule it breaks",
		func(ctx SpecContext, v brokenkms.Variant) {
			broken := httptest.NewServer(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.KMS().Handler().ServeHTTP(w, r)
			})))
			DeferCleanup(broken.Close)
			results := filepath.Join(GinkgoT().TempDir(), "results.json")
			// The harness connects in well under a second: a store stuck in
			// CONNECTING (stays-connecting) fails after 15 s, not AWS's 20 min.
			cmd := osexec.Command(bin, "conformance", "--endpoint", broken.URL, "--control", h.ControlEndpoint(), "--control-token", h.ControlToken(),
				"--connect-timeout", "15s", "--ginkgo.json-report", results, "--ginkgo.label-filter", v.LabelFilter())
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+harness.SecretAccessKey,
				"AWS_REGION="+h.Region(), "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).WithTimeout(5*time.Minute).Should(gexec.Exit(1), "the kit must fail the %s variant", v.Name)
			Expect(failedRules(results)).To(ConsistOf(v.Rule), "the rules that failed against %s", v.Name)
		}, entries)
})
