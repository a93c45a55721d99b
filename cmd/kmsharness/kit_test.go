package main_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/brokenkms"
	"github.com/kmsharness/kmsharness/kms"
)

// failedSpecs returns the names of the failed specs of a JUnit report.
func failedSpecs(path string) []string {
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var report struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	Expect(xml.Unmarshal(raw, &report)).To(Succeed())
	var failed []string
	for _, s := range report.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil {
				failed = append(failed, c.Name)
			}
		}
	}
	return failed
}

var _ = Describe("The conformance kit", Label("kind:slow"), Ordered, func() {
	var h *harness.Harness
	BeforeAll(func(ctx SpecContext) {
		var err error
		// The variants front a KMS that checks no signature (see brokenkms).
		h, err = harness.Start(ctx, harness.WithAuth(harness.AuthNone), harness.WithKMSOptions(kms.WithDayLength(25*time.Millisecond)))
		DeferCleanup(func() { _ = h.Close(context.Background()) })
		Expect(err).NotTo(HaveOccurred())
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
			junit := filepath.Join(GinkgoT().TempDir(), "junit.xml")
			cmd := osexec.Command(bin, "conformance", "--endpoint", broken.URL, "--control", h.ControlEndpoint(), "--control-token", h.ControlToken(),
				"--junit-report", junit, "--ginkgo.label-filter", v.Labels)
			cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+harness.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+harness.SecretAccessKey,
				"AWS_REGION="+h.Region(), "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).WithTimeout(5*time.Minute).Should(gexec.Exit(1), "the kit must fail the %s variant", v.Name)
			failed := failedSpecs(junit)
			Expect(failed).To(ContainElement(ContainSubstring(v.Rule)), "failed specs: %s", strings.Join(failed, "; "))
		}, entries)
})
