package suites

import (
	"fmt"
	"strings"
)

//go:generate go run ../internal/cmd/rulesdoc ../docs/conformance-rules.md

// RulesMarkdown renders the rule table as docs/conformance-rules.md shows
// it: the rules grouped by operation, in the table's order.
func RulesMarkdown() string {
	var b strings.Builder
	b.WriteString("<!-- Generated from suites/rules.go by `go generate ./suites`; do not edit. -->\n\n")
	b.WriteString("# Conformance rules\n\n")
	fmt.Fprintf(&b, "Conformance kit %s, checking the KMS API model %s. Every rule has a stable ID and one sentence;\n", KitVersion, ModelVersion)
	b.WriteString("its spec carries the Ginkgo label `rule:<ID>`, so `--ginkgo.label-filter 'rule:CKS-CONNECT-003'` runs one rule.\n")
	b.WriteString("`kmsharness conformance --list` prints the same table.\n")
	var ops []string
	byOp := map[string][]Rule{}
	for _, r := range rules {
		if _, ok := byOp[r.Operation]; !ok {
			ops = append(ops, r.Operation)
		}
		byOp[r.Operation] = append(byOp[r.Operation], r)
	}
	for _, op := range ops {
		fmt.Fprintf(&b, "\n## %s\n\n| ID | rule |\n|---|---|\n", op)
		for _, r := range byOp[op] {
			fmt.Fprintf(&b, "| %s | %s |\n", r.ID, strings.ReplaceAll(r.Text, "|", `\|`))
		}
	}
	return b.String()
}
