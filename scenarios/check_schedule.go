package scenarios

import (
	"fmt"
	"strings"
)

// The schedule check: the fault schedule ran as written — every injection
// and heal was accepted by the target's control API (a refusal or a server
// error means the faults the other checks assume were not what the
// scenario says).
func checkSchedule(a *analysis) Verdict {
	var violations []Violation
	calls := 0
	for _, op := range a.ops {
		if op.Call != callInject && op.Call != callHeal {
			continue
		}
		calls++
		switch {
		case op.isFail():
			violations = append(violations, a.violation(CheckSchedule, fmt.Sprintf("the control API refused %s %s: %s",
				strings.ToLower(strings.TrimSuffix(op.Call, "Fault")), op.Fault, errorText(op)), op))
		case op.isUnknown():
			violations = append(violations, a.violation(CheckSchedule, fmt.Sprintf("the control API did not answer %s %s in time: %s",
				strings.ToLower(strings.TrimSuffix(op.Call, "Fault")), op.Fault, op), op))
		}
	}
	return verdict(CheckSchedule, fmt.Sprintf("%s of the control API", plural(calls, "injection and heal call")), violations)
}

// errorText is the exception and message of a failed call.
func errorText(op *Operation) string {
	if op.Error == nil {
		return op.String()
	}
	msg := op.Error.Type
	if op.Error.Status != 0 {
		msg += fmt.Sprintf(" (%d)", op.Error.Status)
	}
	if op.Error.Message != "" {
		msg += ": " + op.Error.Message
	}
	return msg
}

// The expectations check: what the scenario expects on top of the checks
// that always run (counts of outcomes in the run phase, states some
// description showed).
func checkExpectations(a *analysis) Verdict {
	e := a.h.Scenario.Expect
	var violations []Violation
	for _, want := range e.AtLeast {
		got := 0
		for _, op := range a.ops {
			if op.Phase == phaseRun && op.Call == want.Call && op.Result == want.Outcome && (want.Error == "" || op.errorType() == want.Error) {
				got++
			}
		}
		if got < want.Count {
			what := want.Call + " " + want.Outcome
			if want.Error != "" {
				what += " with " + want.Error
			}
			violations = append(violations, a.violation(CheckExpectations, fmt.Sprintf("expected at least %d × %s during the run, got %d", want.Count, what, got)))
		}
	}
	for _, want := range e.Observed {
		seen := false
		for _, id := range a.storeOrder {
			s := a.stores[id]
			if s.index < 0 || want.Store != nil && s.index != *want.Store {
				continue
			}
			for _, o := range s.observations {
				if o.State == want.State && (want.Code == "" || o.ErrorCode == want.Code) {
					seen = true
				}
			}
		}
		if !seen {
			what := want.State
			if want.Code != "" {
				what += " " + want.Code
			}
			where := "any store"
			if want.Store != nil {
				where = fmt.Sprintf("store %d", *want.Store)
			}
			violations = append(violations, a.violation(CheckExpectations, fmt.Sprintf("expected %s to be described %s at some point; it never was", where, what)))
		}
	}
	n := len(e.AtLeast) + len(e.Observed)
	return verdict(CheckExpectations, plural(n, "expectation")+" of the scenario", violations)
}
