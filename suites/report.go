package suites

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// Status is a rule's verdict in a run.
type Status string

// The verdicts, in the order the reports show them.
const (
	// StatusFail: a spec of the rule saw the target break it.
	StatusFail Status = "fail"
	// StatusInconclusive: a spec of the rule could not decide on this target
	// (it skipped with InconclusivePrefix).
	StatusInconclusive Status = "inconclusive"
	// StatusSkip: no spec of the rule ran (the target lacks what it needs,
	// or a filter left it out: "not run").
	StatusSkip Status = "skip"
	// StatusPass: every spec of the rule that ran passed.
	StatusPass Status = "pass"
)

// statusOrder ranks the verdicts: failures first.
var statusOrder = map[Status]int{StatusFail: 0, StatusInconclusive: 1, StatusSkip: 2, StatusPass: 3}

// NotRun is the reason of a rule none of whose specs ran.
const NotRun = "not run"

// Result is one rule's verdict in a run.
type Result struct {
	Rule
	Status Status
	// Reason says in one line why the rule failed, was skipped or was
	// inconclusive: the AWS error code and message, or expected and observed.
	Reason string
	// Duration is the time its specs ran.
	Duration time.Duration
	// Location is where the failing spec failed (directory/file:line), if it failed.
	Location string
}

// Counts are the verdicts of a set of rules.
type Counts struct {
	Pass, Fail, Skip, Inconclusive int
}

// Total is the number of rules counted.
func (c Counts) Total() int { return c.Pass + c.Fail + c.Skip + c.Inconclusive }

func (c *Counts) add(s Status) {
	switch s {
	case StatusPass:
		c.Pass++
	case StatusFail:
		c.Fail++
	case StatusInconclusive:
		c.Inconclusive++
	default:
		c.Skip++
	}
}

// String is the counts in one line, e.g. "40 passed, 1 failed, 3 skipped, 2 inconclusive".
func (c Counts) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped, %d inconclusive", c.Pass, c.Fail, c.Skip, c.Inconclusive)
}

// RunInfo is what the Ginkgo report does not know about a run.
type RunInfo struct {
	// Endpoint is the KMS endpoint the run checked.
	Endpoint string
	// Budget sums up what the run spent on the target (stores made, stores
	// left pending deletion, clusters used), in one line; empty if unknown.
	Budget string
}

// Report is a run's verdicts, rule by rule: what every report format shows.
type Report struct {
	KitVersion   string
	ModelVersion string
	RunInfo
	Started  time.Time
	Duration time.Duration
	Seed     int64
	// Results holds one verdict per rule of the table, sorted by ID, then
	// one per spec of the kit that names no known rule (there should be
	// none). Specs outside the kit (a host tree's own) are left out.
	Results []Result
	// SuiteFailures are failures outside every rule's specs (a BeforeSuite,
	// an interrupt), one line each.
	SuiteFailures []string
}

// NewReport turns a Ginkgo report (with ginkgo -p, the merged one
// ReportAfterSuite receives) into one verdict per rule, keyed by the
// specs' rule labels. A rule with no spec that ran is a skip, "not run".
func NewReport(r types.Report, info RunInfo) Report {
	return newReport(r, info, Rules())
}

func newReport(r types.Report, info RunInfo, table []Rule) Report {
	rep := Report{KitVersion: KitVersion, ModelVersion: ModelVersion, RunInfo: info, Started: r.StartTime, Duration: r.RunTime,
		Seed: r.SuiteConfig.RandomSeed}
	specs := map[string][]types.SpecReport{}
	var orphans []Result
	for _, spec := range r.SpecReports {
		if spec.LeafNodeType != types.NodeTypeIt {
			if spec.State.Is(types.SpecStateFailureStates) {
				node := spec.LeafNodeType.String()
				if spec.LeafNodeText != "" {
					node += fmt.Sprintf(" %q", spec.LeafNodeText)
				}
				rep.SuiteFailures = append(rep.SuiteFailures, node+": "+specReason(spec))
			}
			continue
		}
		ids := ruleIDs(spec)
		for _, id := range ids {
			specs[id] = append(specs[id], spec)
		}
		if len(ids) == 0 && slices.Contains(spec.Labels(), kitLabel) {
			orphans = append(orphans, verdict(Rule{Operation: "(no rule)", Text: spec.FullText()}, []types.SpecReport{spec}))
		}
	}
	for _, reason := range r.SpecialSuiteFailureReasons {
		rep.SuiteFailures = append(rep.SuiteFailures, condense(reason))
	}
	known := map[string]bool{}
	for _, rule := range table {
		known[rule.ID] = true
		rep.Results = append(rep.Results, verdict(rule, specs[rule.ID]))
	}
	var unknown []string
	for id := range specs {
		if !known[id] {
			unknown = append(unknown, id)
		}
	}
	sort.Strings(unknown)
	for _, id := range unknown {
		rep.Results = append(rep.Results, verdict(Rule{ID: id, Operation: "(unknown rule)", Text: specs[id][0].FullText()}, specs[id]))
	}
	rep.Results = append(rep.Results, orphans...)
	return rep
}

// kitLabel marks the kit's specs (Register's container carries it).
const kitLabel = "kind:conformance"

// ruleIDs returns the rules a spec's labels name.
func ruleIDs(spec types.SpecReport) []string {
	var ids []string
	for _, l := range spec.Labels() {
		if id, ok := strings.CutPrefix(l, ruleLabelPrefix); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// verdict decides a rule from its specs: failed if one failed, else
// inconclusive if one was, else passed if one passed, else skipped.
func verdict(rule Rule, specs []types.SpecReport) Result {
	res := Result{Rule: rule, Status: StatusSkip, Reason: NotRun}
	var failed, inconclusive, skipped []types.SpecReport
	passed := 0
	for _, spec := range specs {
		res.Duration += spec.RunTime
		switch specStatus(spec) {
		case StatusFail:
			failed = append(failed, spec)
		case StatusInconclusive:
			inconclusive = append(inconclusive, spec)
		case StatusPass:
			passed++
		default:
			skipped = append(skipped, spec)
		}
	}
	// more notes how many other specs of the rule share its verdict.
	more := func(n int, what string) string {
		if n <= 1 {
			return ""
		}
		return fmt.Sprintf(" (and %d more %s)", n-1, what)
	}
	switch {
	case len(failed) > 0:
		res.Status, res.Reason, res.Location = StatusFail, specReason(failed[0])+more(len(failed), "failed"), shortLocation(failed[0].FailureLocation())
	case len(inconclusive) > 0:
		res.Status, res.Reason = StatusInconclusive, specReason(inconclusive[0])+more(len(inconclusive), "inconclusive")
	case passed > 0:
		res.Status, res.Reason = StatusPass, ""
		if len(skipped) > 0 {
			res.Reason = fmt.Sprintf("%d of %d specs skipped: %s", len(skipped), len(specs), specReason(skipped[0]))
		}
	case len(skipped) > 0:
		res.Reason = specReason(skipped[0])
	}
	return res
}

// shortLocation names a place in the code by its directory, file and line
// (suites/keystores.go:31): the build machine's full path means nothing to
// the reader.
func shortLocation(l types.CodeLocation) string {
	if l.FileName == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s:%d", filepath.Base(filepath.Dir(l.FileName)), filepath.Base(l.FileName), l.LineNumber)
}

// specStatus is the verdict of one spec.
func specStatus(spec types.SpecReport) Status {
	switch {
	case spec.State.Is(types.SpecStatePassed):
		return StatusPass
	case spec.State.Is(types.SpecStateFailureStates):
		return StatusFail
	case spec.State.Is(types.SpecStateSkipped) && strings.HasPrefix(spec.Failure.Message, InconclusivePrefix):
		return StatusInconclusive
	}
	return StatusSkip
}

// specReason is why a spec failed or skipped, in one line.
func specReason(spec types.SpecReport) string {
	switch {
	case spec.State.Is(types.SpecStatePassed):
		return ""
	case spec.State.Is(types.SpecStatePending):
		return "pending"
	case spec.State.Is(types.SpecStateSkipped):
		if spec.Failure.Message == "" {
			return NotRun
		}
		return condense(strings.TrimPrefix(spec.Failure.Message, InconclusivePrefix))
	case spec.State.Is(types.SpecStatePanicked):
		return "panic: " + flat(spec.Failure.ForwardedPanic)
	}
	reason := condense(spec.Failure.Message)
	if reason == "" {
		reason = spec.State.String()
	} else if spec.State.Is(types.SpecStateTimedout | types.SpecStateInterrupted | types.SpecStateAborted) {
		reason = spec.State.String() + ": " + reason
	}
	if t := spec.Failure.FailureNodeType; t != spec.LeafNodeType && t != types.NodeTypeInvalid {
		reason = "in " + t.String() + ": " + reason
	}
	return reason
}

// Counts returns the verdicts of all rules.
func (r Report) Counts() Counts {
	var c Counts
	for _, res := range r.Results {
		c.add(res.Status)
	}
	return c
}

// Passed reports whether nothing failed: no rule, no suite node.
func (r Report) Passed() bool { return r.Counts().Fail == 0 && len(r.SuiteFailures) == 0 }

// Failures returns the failed rules, by ID.
func (r Report) Failures() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == StatusFail {
			out = append(out, res)
		}
	}
	return out
}

// OperationResults are the verdicts of the rules of one operation.
type OperationResults struct {
	Operation string
	Counts    Counts
	// Results are failures first, then inconclusive, skipped, passed; by ID within each.
	Results []Result
}

// Operations groups the verdicts by operation: the most failures first,
// then the most inconclusive rules, then by name.
func (r Report) Operations() []OperationResults {
	byOp := map[string]*OperationResults{}
	var ops []*OperationResults
	for _, res := range r.Results {
		g := byOp[res.Operation]
		if g == nil {
			g = &OperationResults{Operation: res.Operation}
			byOp[res.Operation] = g
			ops = append(ops, g)
		}
		g.Counts.add(res.Status)
		g.Results = append(g.Results, res)
	}
	out := make([]OperationResults, 0, len(ops))
	for _, g := range ops {
		sort.SliceStable(g.Results, func(i, j int) bool {
			a, b := g.Results[i], g.Results[j]
			if statusOrder[a.Status] != statusOrder[b.Status] {
				return statusOrder[a.Status] < statusOrder[b.Status]
			}
			return a.ID < b.ID
		})
		out = append(out, *g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Counts, out[j].Counts
		if a.Fail != b.Fail {
			return a.Fail > b.Fail
		}
		if a.Inconclusive != b.Inconclusive {
			return a.Inconclusive > b.Inconclusive
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}

// Title is the report's verdict and subject in one line.
func (r Report) Title() string {
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s: KMS custom key store conformance of %s", verdict, r.Endpoint)
}

// ReportFormats are the file name endings WriteFile knows, each with its format.
var ReportFormats = map[string]string{
	".html": "HTML, for people",
	".md":   "Markdown, for people",
	".json": "JSON results, for machines",
	".xml":  "JUnit XML, one testcase per rule",
}

// WriteFile writes the report to path in the format its name ends in: .html,
// .md, .json or .xml (JUnit).
func (r Report) WriteFile(path string) error {
	var write func(*os.File) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html":
		write = func(f *os.File) error { return r.WriteHTML(f) }
	case ".md":
		write = func(f *os.File) error { return r.WriteMarkdown(f) }
	case ".json":
		write = func(f *os.File) error { return r.WriteJSON(f) }
	case ".xml":
		write = func(f *os.File) error { return r.WriteJUnit(f) }
	default:
		return fmt.Errorf("report %s: the name must end in .html, .md, .json or .xml", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("report %s: %w", path, err)
	}
	return f.Close()
}

// WriteReport writes the report of a Ginkgo run to path (see
// Report.WriteFile for the formats): call it from a ReportAfterSuite.
func WriteReport(r types.Report, info RunInfo, path string) error {
	return NewReport(r, info).WriteFile(path)
}
