// Package ruletest checks the conformance kit's rule table against its
// specs: the specs are registered here (and only previewed, never run), so
// every spec's labels and text can be compared with the table.
package ruletest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/suites"
)

var cfg suites.Config

var _ = suites.Register(&cfg)

// ruleOf returns the rule IDs among a spec's labels.
func ruleOf(spec types.SpecReport) []string {
	var ids []string
	for _, l := range spec.Labels() {
		if id, ok := strings.CutPrefix(l, suites.RuleLabel("")); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestEverySpecHasOneRuleAndEveryRuleOneSpec(t *testing.T) {
	report := ginkgo.PreviewSpecs("rule table")
	specsOf := map[string]int{}
	n := 0
	for _, spec := range report.SpecReports {
		if spec.LeafNodeType != types.NodeTypeIt {
			continue
		}
		n++
		ids := ruleOf(spec)
		if len(ids) != 1 {
			t.Errorf("spec %q has rule labels %v, want exactly one", spec.FullText(), ids)
			continue
		}
		r, ok := suites.RuleByID(ids[0])
		if !ok {
			t.Errorf("spec %q names rule %s, which the table lacks", spec.FullText(), ids[0])
			continue
		}
		if spec.LeafNodeText != r.Text {
			t.Errorf("spec of %s reads %q, not the rule's text %q", r.ID, spec.LeafNodeText, r.Text)
		}
		specsOf[ids[0]]++
	}
	if n == 0 {
		t.Fatal("no spec previewed")
	}
	for _, r := range suites.Rules() {
		if specsOf[r.ID] != 1 {
			t.Errorf("rule %s has %d specs, want 1", r.ID, specsOf[r.ID])
		}
	}
}

func TestRuleTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range suites.Rules() {
		if seen[r.ID] {
			t.Errorf("two rules share the ID %s", r.ID)
		}
		seen[r.ID] = true
		if !strings.HasPrefix(r.ID, "CKS-") || r.Operation == "" || r.Text == "" {
			t.Errorf("rule %+v lacks an ID, an operation or a text", r)
		}
		if !strings.HasSuffix(r.Text, ".") || strings.Count(r.Text, ". ") > 0 {
			t.Errorf("rule %s is not one sentence: %q", r.ID, r.Text)
		}
	}
}

func TestRulesDocIsInSync(t *testing.T) {
	path := filepath.Join(testenv.ModuleRoot(), "docs", "conformance-rules.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != suites.RulesMarkdown() {
		t.Errorf("%s is out of date with the rule table: run go generate ./suites", path)
	}
}
