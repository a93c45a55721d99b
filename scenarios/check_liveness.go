package scenarios

import (
	"fmt"
	"time"
)

// The liveness check: within the scenario's bound (all-connected-within)
// after the last heal or repair, every store of the scenario is CONNECTED
// and stays so, and one of its keys encrypts.

func checkLiveness(a *analysis) Verdict {
	from := a.h.LastRepair
	if from == 0 {
		from = a.h.RunEnd
	}
	deadline := from + a.bound
	var violations []Violation
	checked := 0
	for _, id := range a.storeOrder {
		s := a.stores[id]
		if s.index < 0 {
			continue
		}
		checked++
		var connected, last *Operation
		for _, o := range s.observations {
			if o.Start < from {
				continue
			}
			last = o
			if connected == nil && o.State == stateConnected && o.End <= deadline {
				connected = o
			}
		}
		switch {
		case connected == nil:
			msg := fmt.Sprintf("store %s was not CONNECTED within %s of the last heal or repair (at %s)", id, time.Duration(a.bound), fmtNanos(from))
			if last != nil {
				msg += "; last seen: " + last.String()
			}
			violations = append(violations, a.violation(CheckLiveness, msg, last))
			continue
		case last.State != stateConnected:
			violations = append(violations, a.violation(CheckLiveness, fmt.Sprintf("store %s was CONNECTED after the last heal or repair, then left it: %s",
				id, describeOps(connected, last)), connected, last))
			continue
		}
		if len(s.keys) == 0 {
			continue
		}
		var served, tried *Operation
		for _, op := range s.ops {
			if op.Call != callEncrypt || op.Start < from || op.Phase == phaseRun {
				continue
			}
			tried = op
			if op.isOK() && op.End <= deadline {
				served = op
				break
			}
		}
		if served == nil {
			msg := fmt.Sprintf("no key of store %s encrypted within %s of the last heal or repair (at %s)", id, time.Duration(a.bound), fmtNanos(from))
			if tried != nil {
				msg += "; last try: " + tried.String()
			}
			violations = append(violations, a.violation(CheckLiveness, msg, connected, tried))
		}
	}
	return verdict(CheckLiveness, fmt.Sprintf("%s, each CONNECTED and encrypting within %s of the last heal or repair at %s",
		plural(checked, "store"), time.Duration(a.bound), fmtNanos(from)), violations)
}
