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
	b.WriteString(verdictsAndBudget)
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

// verdictsAndBudget is the part of docs/conformance-rules.md that says what
// a verdict means and how a run spends an account.
const verdictsAndBudget = `
## Verdicts

A rule **passes** or **fails** on what the target answered, never on how long it stayed in a state. A rule
that the target cannot be asked about is **skipped** with the reason (no control API for faults,
no free cluster). A rule that could not be decided on this target is **inconclusive**: its skip
reason starts with "inconclusive: ". The rules about CONNECTING and DISCONNECTING hold the store in
that state through the control API's holds (docs/control-protocol.md); without them they are
inconclusive, since a fast target may leave the state before the checks run. Fixtures retry a
connect that fails with NETWORK_ERRORS or INTERNAL_ERROR (transient by AWS's word) so that a rule
about something else does not fail for a transient.

## Budget

The kit is designed for a real AWS account: at most 10 custom key stores alive at once, keys that
block their store's deletion for at least 7 days, one or two CloudHSM clusters, each usable by one
store at a time, and kmsuser's password rotated by KMS on every connect.

- The rules that need keys share **one store per run** (per process under ginkgo -p), named
  ` + "`kmsharness-conformance-keys-<cluster ID>`" + ` on the first given cluster; the next run against
  that cluster finds it again and reuses it instead of leaving another store pending deletion.
- The rules that need only a store make one on a cluster no store uses and delete it; the cluster
  goes back to a pool for the next rule unless a connect (which rotates kmsuser's password) or a
  fault changed it.
- Clusters made through the control API are deleted when the run ends (or as soon as a fault or
  a connect changed them): no HSM process outlives the run.
- A rule that needs a store when the account has no room skips with the reason instead of failing.
- The quota rule (CKS-CREATE-004) needs a cluster for each store of the quota, so it runs only when
  the control API makes clusters.
- With one ` + "`--cluster`" + ` and no control API, that cluster holds the shared store: the rules that
  need a store of their own, or two clusters, skip with the reason.

` + "`suites.Budget()`" + ` reports what a run spent: stores made, reused, deleted and left pending
deletion, the most alive at once, and the clusters used, made and released.
`
