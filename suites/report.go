package suites

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// ReportRow is one rule of the spec as the suites checked it.
type ReportRow struct {
	Operation string // from the spec's api: labels
	Rule      string // the spec's text
	Status    string // pass, fail or skip
	Observed  string // the failure or the skip reason
	Location  string
}

// Rows turns a Ginkgo report into one row per spec, by operation.
func Rows(r types.Report) []ReportRow {
	var rows []ReportRow
	for _, spec := range r.SpecReports {
		if spec.LeafNodeType != types.NodeTypeIt {
			continue
		}
		var ops []string
		for _, l := range spec.Labels() {
			if op, ok := strings.CutPrefix(l, "api:"); ok {
				ops = append(ops, op)
			}
		}
		if len(ops) == 0 {
			ops = []string{"(general)"}
		}
		row := ReportRow{Operation: strings.Join(ops, ", "), Rule: spec.FullText(), Location: spec.LeafNodeLocation.String()}
		switch {
		case spec.State.Is(types.SpecStatePassed):
			row.Status = "pass"
		case spec.State.Is(types.SpecStateSkipped | types.SpecStatePending):
			row.Status, row.Observed = "skip", spec.Failure.Message
		default:
			row.Status, row.Observed = "fail", strings.TrimSpace(spec.Failure.Message)
		}
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Operation < rows[j].Operation })
	return rows
}

// WriteReport writes the report for people: Markdown (.md) or HTML (.html).
func WriteReport(r types.Report, path string) error {
	rows := Rows(r)
	var pass, fail, skip int
	for _, row := range rows {
		switch row.Status {
		case "pass":
			pass++
		case "fail":
			fail++
		default:
			skip++
		}
	}
	summary := fmt.Sprintf("%d passed, %d failed, %d skipped", pass, fail, skip)
	var b strings.Builder
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md":
		fmt.Fprintf(&b, "# KMS custom key store conformance\n\n%s — %s\n\n", r.SuiteDescription, summary)
		b.WriteString("| operation | rule | result | observed |\n|---|---|---|---|\n")
		for _, row := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdCell(row.Operation), mdCell(row.Rule), strings.ToUpper(row.Status), mdCell(row.Observed))
		}
	case ".html":
		fmt.Fprintf(&b, "<!doctype html><meta charset=utf-8><title>KMS conformance</title>\n<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}table{border-collapse:collapse}.pass{background:#e6ffe6}.fail{background:#ffe6e6}.skip{background:#f4f4f4}</style>\n")
		fmt.Fprintf(&b, "<h1>KMS custom key store conformance</h1><p>%s</p>\n<table><tr><th>operation</th><th>rule</th><th>result</th><th>observed</th></tr>\n", html.EscapeString(summary))
		for _, row := range rows {
			fmt.Fprintf(&b, "<tr class=%s><td>%s</td><td>%s</td><td>%s</td><td><pre>%s</pre></td></tr>\n", row.Status,
				html.EscapeString(row.Operation), html.EscapeString(row.Rule), strings.ToUpper(row.Status), html.EscapeString(row.Observed))
		}
		b.WriteString("</table>\n")
	default:
		return fmt.Errorf("report %s: the name must end in .md or .html", path)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\\\|")
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "<br>")
}
