package suites

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	"golang.org/x/net/html"

	"github.com/kmsharness/kmsharness/internal/testenv"
)

// The reports of a real Ginkgo run of the tiny tree (report_tree_test.go).
var _ = ginkgo.Describe("The reports", ginkgo.Ordered, func() {
	const seed = 4242
	var dir string
	ginkgo.BeforeAll(func(ctx ginkgo.SpecContext) {
		dir = ginkgo.GinkgoT().TempDir()
		gomega.Expect(runReportTree(ctx, dir, seed)).To(gomega.Succeed())
	})

	ginkgo.It("give machines one JSON object per rule, with its status, a one-line reason and its duration", func() {
		raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		var results jsonResults
		gomega.Expect(json.Unmarshal(raw, &results)).To(gomega.Succeed())
		gomega.Expect(results.KitVersion).To(gomega.Equal(KitVersion))
		gomega.Expect(results.ModelVersion).To(gomega.Equal(ModelVersion))
		gomega.Expect(results.Endpoint).To(gomega.HavePrefix("http://127.0.0.1:"))
		gomega.Expect(results.Seed).To(gomega.BeEquivalentTo(seed))
		gomega.Expect(results.Duration).To(gomega.BeNumerically(">", 0))
		gomega.Expect(results.Budget).To(gomega.Equal("2 stores made, 0 left pending deletion, 1 cluster"))
		gomega.Expect(results.Passed).To(gomega.BeFalse())
		gomega.Expect(results.SuiteFailures).To(gomega.ConsistOf(`ReportAfterSuite "report tree clean-up": cleaning up: unexpected error: 3 stores left`))

		byID := map[string]jsonResult{}
		for _, r := range results.Results {
			gomega.Expect(r.Reason).NotTo(gomega.ContainSubstring("\n"), r.ID)
			gomega.Expect(len([]rune(r.Reason))).To(gomega.BeNumerically("<=", maxReason), r.ID)
			byID[r.ID] = r
		}
		gomega.Expect(results.Results).To(gomega.HaveLen(len(treeRules)+1), "one per rule, and the kit's spec that names none")
		status := func(id string) Status { return byID[id].Status }
		reason := func(id string) string { return byID[id].Reason }

		gomega.Expect(status("T-AWS-001")).To(gomega.Equal(StatusFail))
		gomega.Expect(reason("T-AWS-001")).To(gomega.Equal("connecting: unexpected error: ConnectCustomKeyStore: CustomKeyStoreInvalidStateException: The custom key store cks-0123456789abcdef0 is not DISCONNECTED."))
		gomega.Expect(byID["T-AWS-001"].Location).To(gomega.MatchRegexp(`^suites/report_tree_test\.go:\d+$`))
		gomega.Expect(byID["T-AWS-001"].Duration).To(gomega.BeNumerically(">", 0))
		gomega.Expect(reason("T-EQ-001")).To(gomega.Equal("the state right after ConnectCustomKeyStore: expected CONNECTED, observed CONNECTING"))
		gomega.Expect(status("T-TWO-001")).To(gomega.Equal(StatusFail), "one of its specs failed")
		gomega.Expect(reason("T-TWO-001")).To(gomega.Equal(`observed ["a", "b"], expected to have length 3`))
		gomega.Expect(status("T-STRUCT-001")).To(gomega.Equal(StatusFail))
		gomega.Expect(reason("T-STRUCT-001")).To(gomega.HavePrefix(`observed types.KeyMetadata{KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", Enabled: true`))
		gomega.Expect(reason("T-STRUCT-001")).To(gomega.HaveSuffix("expected to be zero-valued"))
		gomega.Expect(reason("T-PANIC-001")).To(gomega.Equal("panic: boom in two lines"))
		gomega.Expect(status("T-INC-001")).To(gomega.Equal(StatusInconclusive))
		gomega.Expect(reason("T-INC-001")).To(gomega.Equal(treeInconclusive))
		gomega.Expect(status("T-SKIP-001")).To(gomega.Equal(StatusSkip))
		gomega.Expect(reason("T-SKIP-001")).To(gomega.Equal(treeSkip))
		for _, id := range []string{"T-LEFT-001", "T-NONE-001"} {
			gomega.Expect(status(id)).To(gomega.Equal(StatusSkip), id)
			gomega.Expect(reason(id)).To(gomega.Equal(NotRun), id)
			gomega.Expect(byID[id].Duration).To(gomega.BeZero(), id)
		}
		for _, id := range []string{"T-PASS-001", "T-PASS-002"} {
			gomega.Expect(status(id)).To(gomega.Equal(StatusPass), id)
			gomega.Expect(reason(id)).To(gomega.BeEmpty(), id)
		}
		gomega.Expect(byID[""].Operation).To(gomega.Equal("(no rule)"))
		gomega.Expect(byID[""].Text).To(gomega.ContainSubstring("names no rule"))
		gomega.Expect(results.Summary).To(gomega.Equal(jsonCounts{Total: 12, Pass: 3, Fail: 5, Skip: 3, Inconclusive: 1}))
	})

	ginkgo.It("are the same under ginkgo -p, from the merged report", func(ctx ginkgo.SpecContext) {
		parallel := ginkgo.GinkgoT().TempDir()
		gomega.Expect(runReportTreeParallel(ctx, parallel, seed)).To(gomega.Succeed())
		verdicts := func(dir string) map[string]string {
			raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			var results jsonResults
			gomega.Expect(json.Unmarshal(raw, &results)).To(gomega.Succeed())
			gomega.Expect(results.Seed).To(gomega.BeEquivalentTo(seed))
			out := map[string]string{}
			for _, r := range results.Results {
				out[r.ID] = string(r.Status) + ": " + r.Reason
			}
			return out
		}
		gomega.Expect(verdicts(parallel)).To(gomega.Equal(verdicts(dir)))
	})

	ginkgo.It("give people an HTML page that a browser shows with the failures first, one-line reasons and the run in the header", func(ctx ginkgo.SpecContext) {
		dom, err := testenv.RenderHTML(ctx, filepath.Join(dir, "report.html"))
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		doc, err := html.Parse(strings.NewReader(dom))
		gomega.Expect(err).NotTo(gomega.HaveOccurred())

		gomega.Expect(text(byID(doc, "verdict"))).To(gomega.HavePrefix("FAIL"))
		gomega.Expect(text(byID(doc, "kit-version"))).To(gomega.Equal(KitVersion))
		gomega.Expect(text(byID(doc, "model-version"))).To(gomega.Equal(ModelVersion))
		gomega.Expect(text(byID(doc, "endpoint"))).To(gomega.HavePrefix("http://127.0.0.1:"))
		gomega.Expect(text(byID(doc, "seed"))).To(gomega.Equal("4242"))
		gomega.Expect(text(byID(doc, "date"))).To(gomega.MatchRegexp(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`))
		gomega.Expect(text(byID(doc, "duration"))).To(gomega.MatchRegexp(`^[\d.]+(ms|s)$`))
		gomega.Expect(text(byID(doc, "budget"))).To(gomega.ContainSubstring("2 stores made"))
		gomega.Expect(text(byID(doc, "overall"))).To(gomega.Equal("12: 3 passed, 5 failed, 3 skipped, 1 inconclusive"))

		gomega.Expect(text(byID(doc, "suite-failures"))).To(gomega.Equal(`ReportAfterSuite "report tree clean-up": cleaning up: unexpected error: 3 stores left`))

		rows := all(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "rule") })
		gomega.Expect(rows).NotTo(gomega.BeEmpty())
		gomega.Expect(hasClass(rows[0], "fail")).To(gomega.BeTrue(), "the first rule shown failed")
		failures := all(byID(doc, "failures"), func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "rule") })
		gomega.Expect(failures).To(gomega.HaveLen(5))
		for _, row := range rows {
			reason := all(row, func(n *html.Node) bool { return hasClass(n, "reason") })
			gomega.Expect(reason).To(gomega.HaveLen(1))
			gomega.Expect(text(reason[0])).NotTo(gomega.ContainSubstring("\n"))
			gomega.Expect(text(reason[0])).NotTo(gomega.ContainSubstring("0x"), "no pointers of a struct dump")
		}
		gomega.Expect(text(failures[0])).To(gomega.ContainSubstring("CustomKeyStoreInvalidStateException: The custom key store"))

		// Each operation's rules: failures, inconclusive, skipped, passed.
		sections := all(doc, func(n *html.Node) bool { return n.Data == "section" && hasClass(n, "operation") })
		gomega.Expect(sections).To(gomega.HaveLen(4), "Connect, Describe, Pagination, (no rule)")
		gomega.Expect(attr(sections[0], "id")).To(gomega.Equal("op-Connect"), "operations with failures first")
		rank := map[string]int{"fail": 0, "inconclusive": 1, "skip": 2, "pass": 3}
		for _, s := range sections {
			last := 0
			for _, row := range all(s, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "rule") }) {
				r := rank[attr(row, "data-status")]
				gomega.Expect(r).To(gomega.BeNumerically(">=", last), "order in %s", attr(s, "id"))
				last = r
			}
		}
		summary := all(byID(doc, "summary"), func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "operation") })
		gomega.Expect(summary).To(gomega.HaveLen(4))
		gomega.Expect(cells(summary[1])).To(gomega.Equal([]string{"Describe", "4", "2", "1", "0", "1"}))
	})

	ginkgo.It("give people Markdown with the failures first", func() {
		raw, err := os.ReadFile(filepath.Join(dir, "report.md"))
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		md := string(raw)
		gomega.Expect(md).To(gomega.HavePrefix("# FAIL — KMS custom key store conformance\n"))
		for _, field := range []string{"| kit version | " + KitVersion + " |", "| model version | " + ModelVersion + " |", "| seed | 4242 |", "| endpoint | http://127.0.0.1:", "| date | ", "| duration | ", "| budget | 2 stores made"} {
			gomega.Expect(md).To(gomega.ContainSubstring(field))
		}
		gomega.Expect(md).To(gomega.ContainSubstring("## Failures outside the rules\n\n- ReportAfterSuite \"report tree clean-up\": cleaning up: unexpected error: 3 stores left\n"))
		gomega.Expect(strings.Index(md, "## Failures")).To(gomega.BeNumerically("<", strings.Index(md, "## Summary by operation")))
		gomega.Expect(md).To(gomega.ContainSubstring("| T-EQ-001 | Connect | is CONNECTING right after Connect. | the state right after ConnectCustomKeyStore: expected CONNECTED, observed CONNECTING |"))
		gomega.Expect(md).To(gomega.ContainSubstring("| INCONCLUSIVE | T-INC-001 | refuses everything while DISCONNECTING. | " + treeInconclusive + " |"))
		gomega.Expect(md).To(gomega.ContainSubstring("| SKIP | T-NONE-001 | has no spec. | not run |"))
	})

	ginkgo.It("give CI JUnit XML with one testcase per rule and none for set-up nodes", func() {
		raw, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		var junit struct {
			Suites []struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
				Cases    []struct {
					Name    string `xml:"name,attr"`
					Class   string `xml:"classname,attr"`
					Failure *struct {
						Message string `xml:"message,attr"`
					} `xml:"failure"`
					Skipped *struct {
						Message string `xml:"message,attr"`
					} `xml:"skipped"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		gomega.Expect(xml.Unmarshal(raw, &junit)).To(gomega.Succeed())
		gomega.Expect(junit.Suites).To(gomega.HaveLen(1))
		s := junit.Suites[0]
		gomega.Expect(s.Cases).To(gomega.HaveLen(len(treeRules) + 1))
		gomega.Expect(s.Tests).To(gomega.Equal(len(treeRules) + 1))
		gomega.Expect(s.Failures).To(gomega.Equal(5))
		names := map[string]int{}
		for _, c := range s.Cases {
			gomega.Expect(c.Name).NotTo(gomega.ContainSubstring("BeforeSuite"))
			gomega.Expect(c.Name).NotTo(gomega.ContainSubstring("ReportAfterSuite"))
			names[strings.Fields(c.Name)[0]]++
			if strings.HasPrefix(c.Name, "T-EQ-001 ") {
				gomega.Expect(c.Class).To(gomega.Equal("Connect"))
				gomega.Expect(c.Failure).NotTo(gomega.BeNil())
				gomega.Expect(c.Failure.Message).To(gomega.Equal("the state right after ConnectCustomKeyStore: expected CONNECTED, observed CONNECTING"))
			}
			if strings.HasPrefix(c.Name, "T-INC-001 ") {
				gomega.Expect(c.Skipped).NotTo(gomega.BeNil())
				gomega.Expect(c.Skipped.Message).To(gomega.Equal(InconclusivePrefix + treeInconclusive))
			}
		}
		for _, r := range treeRules {
			gomega.Expect(names).To(gomega.HaveKeyWithValue(r.ID, 1))
		}
	})
})

// byID returns the element with the id, or fails.
func byID(doc *html.Node, id string) *html.Node {
	found := testenv.ElementByID(doc, id)
	gomega.ExpectWithOffset(1, found).NotTo(gomega.BeNil(), "one element #%s", id)
	return found
}

var (
	all      = testenv.Elements
	attr     = testenv.Attr
	hasClass = testenv.HasClass
	text     = testenv.Text
	cells    = testenv.Cells
)
