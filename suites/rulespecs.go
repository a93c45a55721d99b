package suites

import "github.com/onsi/ginkgo/v2"

// mustRule returns the rule with the given ID; a spec naming a rule the
// table lacks is a bug of the kit, found when the tree is built.
func mustRule(id string) Rule {
	r, ok := RuleByID(id)
	if !ok {
		panic("suites: no rule " + id + " in the rule table")
	}
	return r
}

// ruleIt declares the spec of a rule: its text is the rule's sentence and
// it carries the rule's label, so that reports tie results to rules.
func ruleIt(id string, args ...any) bool {
	return ginkgo.It(mustRule(id).Text, append([]any{ginkgo.Label(RuleLabel(id))}, args...)...)
}

// ruleEntry is a table entry that is the spec of a rule, as ruleIt.
func ruleEntry(id string, args ...any) ginkgo.TableEntry {
	return ginkgo.Entry(mustRule(id).Text, append([]any{ginkgo.Label(RuleLabel(id))}, args...)...)
}
