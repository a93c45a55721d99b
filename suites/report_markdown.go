package suites

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report for people as Markdown, in the order of
// the HTML one: the run, the failures, a summary by operation, then every
// rule by operation.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "# %s — KMS custom key store conformance\n\n", verdict)
	budget := r.Budget
	if budget == "" {
		budget = "not reported"
	}
	b.WriteString("| | |\n|---|---|\n")
	for _, kv := range [][2]string{{"endpoint", r.Endpoint}, {"kit version", r.KitVersion}, {"model version", r.ModelVersion},
		{"date", r.Started.UTC().Format("2006-01-02 15:04:05 UTC")}, {"seed", fmt.Sprint(r.Seed)}, {"duration", roundDuration(r.Duration)},
		{"budget", budget}, {"rules", fmt.Sprintf("%d: %s", r.Counts().Total(), r.Counts())}} {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], mdCell(kv[1]))
	}
	if len(r.SuiteFailures) > 0 {
		b.WriteString("\n## Failures outside the rules\n\n")
		for _, f := range r.SuiteFailures {
			fmt.Fprintf(&b, "- %s\n", mdCell(f))
		}
	}
	if failures := r.Failures(); len(failures) > 0 {
		b.WriteString("\n## Failures\n\n| rule | operation | what it says | why it failed | duration |\n|---|---|---|---|---:|\n")
		for _, res := range failures {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", res.ID, mdCell(res.Operation), mdCell(res.Text), mdCell(res.Reason), roundDuration(res.Duration))
		}
	}
	ops := r.Operations()
	b.WriteString("\n## Summary by operation\n\n| operation | rules | fail | inconclusive | skip | pass |\n|---|---:|---:|---:|---:|---:|\n")
	for _, op := range ops {
		c := op.Counts
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", mdCell(op.Operation), c.Total(), c.Fail, c.Inconclusive, c.Skip, c.Pass)
	}
	c := r.Counts()
	fmt.Fprintf(&b, "| **all** | %d | %d | %d | %d | %d |\n", c.Total(), c.Fail, c.Inconclusive, c.Skip, c.Pass)
	b.WriteString("\n## Rules by operation\n")
	for _, op := range ops {
		fmt.Fprintf(&b, "\n### %s — %s\n\n| result | rule | what it says | reason | duration |\n|---|---|---|---|---:|\n", op.Operation, op.Counts)
		for _, res := range op.Results {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", strings.ToUpper(string(res.Status)), res.ID, mdCell(res.Text), mdCell(res.Reason), roundDuration(res.Duration))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell makes s safe in a Markdown table cell: one line, pipes escaped.
func mdCell(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}
