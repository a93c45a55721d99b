package scenarios

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checks every run gets, in the order they are reported.
const (
	CheckConnectionStates = "connection-states"
	CheckLinearizability  = "linearizability"
	CheckDurability       = "durability"
	CheckLiveness         = "liveness"
	CheckErrors           = "errors"
	CheckSchedule         = "schedule"
	CheckExpectations     = "expectations"
)

// Checks lists the checks in the order they are reported.
var Checks = []string{CheckConnectionStates, CheckLinearizability, CheckDurability, CheckLiveness, CheckErrors, CheckSchedule, CheckExpectations}

// Verdict statuses.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	// StatusUnknown: the check could not decide (the linearizability
	// search ran out of time). A run passes only when every check passes.
	StatusUnknown = "unknown"
)

// Verdict is the outcome of one check.
type Verdict struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	// Summary says what the check looked at ("1,204 descriptions of 3
	// stores"), so that a pass is not mistaken for a vacuous one.
	Summary    string      `json:"summary"`
	Violations []Violation `json:"violations,omitempty"`

	// models are the porcupine searches behind the verdict, for the
	// report's visualisations.
	models []linearizationRecord
}

// Violation is one broken rule: which check, what, the operations involved
// with their times, and the faults possibly in place then.
type Violation struct {
	Check   string `json:"check"`
	Message string `json:"message"`
	// Ops are the IDs of the operations involved.
	Ops []int `json:"ops,omitempty"`
	// From and To bound the slice of history involved.
	From  int64  `json:"from"`
	To    int64  `json:"to"`
	Store string `json:"store,omitempty"`
	Key   string `json:"key,omitempty"`
	// Faults are the faults possibly in place during [From, To].
	Faults []string `json:"faults,omitempty"`
	// Visualization names the porcupine visualisation of a linearizability
	// violation, written beside the report.
	Visualization string `json:"visualization,omitempty"`
}

// linearizationRecord is one porcupine search: its partition's name, the
// model and what the search found.
type linearizationRecord struct {
	name   string
	model  porcupine.Model
	info   porcupine.LinearizationInfo
	result porcupine.CheckResult
	// history is what the search ordered.
	history []porcupine.Operation
}

// CheckTimeout bounds each porcupine search.
var CheckTimeout = 2 * time.Minute

// Check checks a history: the checks that always run and the scenario's
// expectations. It is what a run does at its end and what `kmsharness
// chaos check` does again from history.json.
func Check(h *History) []Verdict {
	a := analyse(h)
	return []Verdict{
		checkConnectionStates(a),
		checkLinearizability(a),
		checkDurability(a),
		checkLiveness(a),
		checkErrors(a),
		checkSchedule(a),
		checkExpectations(a),
	}
}

// Passed reports whether every verdict passes.
func Passed(verdicts []Verdict) bool {
	for _, v := range verdicts {
		if v.Status != StatusPass {
			return false
		}
	}
	return len(verdicts) > 0
}

// verdict assembles a verdict from its violations.
func verdict(check, summary string, violations []Violation) Verdict {
	v := Verdict{Check: check, Status: StatusPass, Summary: summary}
	if len(violations) > 0 {
		v.Status = StatusFail
		sort.SliceStable(violations, func(i, j int) bool { return violations[i].From < violations[j].From })
		v.Violations = violations
	}
	return v
}

// violation builds a violation of check about ops, with the faults
// possibly in place around them.
func (a *analysis) violation(check, msg string, ops ...*Operation) Violation {
	v := Violation{Check: check, Message: msg, From: never, To: 0}
	for _, op := range ops {
		if op == nil {
			continue
		}
		v.Ops = append(v.Ops, op.ID)
		v.From = min(v.From, op.Start)
		end := op.End
		if op.isUnknown() {
			end = op.Start
		}
		v.To = max(v.To, end)
		if v.Store == "" {
			v.Store = op.Store
		}
		if v.Key == "" {
			v.Key = op.Key
		}
	}
	if v.From == never {
		v.From, v.To = 0, a.end
	}
	slices.Sort(v.Ops)
	v.Ops = slices.Compact(v.Ops)
	v.Faults = a.faultsAt(v.From, v.To)
	return v
}

// describeOps lists operations for a message.
func describeOps(ops ...*Operation) string {
	var parts []string
	for _, op := range ops {
		if op != nil {
			parts = append(parts, op.String())
		}
	}
	return strings.Join(parts, "; ")
}

// plural writes "1 store", "3 stores".
func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
