package suites

import "sort"

// KitVersion is the conformance kit's semantic version: a new rule or a
// stricter check is a minor version, a rule removed or renamed a major one.
const KitVersion = "1.0.0"

// ModelVersion names the KMS API model the rules were written from (the
// botocore service model's version).
const ModelVersion = "kms 2014-11-01"

// Rule is one checked behaviour of the KMS custom key store API. Its ID is
// stable across kit versions; Text is the one sentence the specs, the
// reports and docs/conformance-rules.md all show.
type Rule struct {
	ID        string // e.g. CKS-CONNECT-003
	Operation string // the API operation it is about, or "(general)"
	Text      string
}

// ruleLabelPrefix starts the Ginkgo label that ties a spec to its rule.
const ruleLabelPrefix = "rule:"

// InconclusivePrefix starts the skip message of a spec that could not decide
// its rule on this target (a transient state it cannot hold, say); reports
// show it as inconclusive rather than skipped.
const InconclusivePrefix = "inconclusive: "

// rules is the one table of the kit's rules, in the order docs list them.
var rules = []Rule{}

// Rules returns the kit's rules, sorted by ID.
func Rules() []Rule {
	out := append([]Rule(nil), rules...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RuleByID returns the rule with the given ID.
func RuleByID(id string) (Rule, bool) {
	for _, r := range rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// RuleLabel is the Ginkgo label a spec of the rule carries.
func RuleLabel(id string) string { return ruleLabelPrefix + id }
