package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The connection-state check: the connection state machine of spec §6.1 as
// a nondeterministic porcupine model over every call and description of a
// store; then the rules that need the faults: a FAILED code must be
// explained by a fault (or a wrong password) in place, and no connect may
// end CONNECTED while every way to log in was certainly cut.

// smState is a store's state in the model: a connection state and, when
// FAILED, the error code ("" until a description reads it).
type smState struct {
	conn string
	code string
}

// smEffect is what a call does to the state when it happens.
type smEffect int

const (
	effNone smEffect = iota
	effConnect
	effDisconnect
	effDelete
)

// smInput is an operation of the state model: the states its answer says
// the store was in (nil: any), the code a description of FAILED read, its
// effect, and whether it may not have happened (an unknown outcome).
type smInput struct {
	allowed []string
	code    string
	effect  smEffect
	maybe   bool
}

// settle lists the states the store can reach with no call at all: a
// connect ends (CONNECTED, or FAILED with some code), a disconnect ends.
func settle(s smState) []smState {
	switch s.conn {
	case stateConnecting:
		return []smState{s, {conn: stateConnected}, {conn: stateFailed}}
	case stateDisconnecting:
		return []smState{s, {conn: stateDisconnected}}
	}
	return []smState{s}
}

// smStep is the model's step from one state: every state the store can be
// in after the operation.
func smStep(s smState, in smInput) []smState {
	var out []smState
	for _, c := range settle(s) {
		if in.maybe {
			out = append(out, c)
		}
		if in.allowed != nil && !slices.Contains(in.allowed, c.conn) {
			continue
		}
		if in.code != "" {
			if c.code != "" && c.code != in.code {
				continue
			}
			c.code = in.code
		}
		switch in.effect {
		case effConnect:
			if c.conn == stateDisconnected {
				c = smState{conn: stateConnecting}
			} else {
				// Connect on a CONNECTING or CONNECTED store: the spec allows
				// it and leaves its effect unconfirmed (§4.2): no change, or
				// a new connect.
				out = append(out, smState{conn: stateConnecting})
			}
		case effDisconnect:
			c = smState{conn: stateDisconnecting}
		case effDelete:
			c = smState{conn: stateDeleted}
		}
		out = append(out, c)
	}
	return out
}

// stateMachineModel is the store's connection state machine as a porcupine
// model.
func stateMachineModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []any { return []any{smState{conn: stateDisconnected}} },
		Step: func(state, input, _ any) []any {
			var out []any
			for _, next := range smStep(state.(smState), input.(smInput)) {
				out = append(out, next)
			}
			return out
		},
		Equal: func(a, b any) bool { return a.(smState) == b.(smState) },
		DescribeOperation: func(_, output any) string {
			return describeOutput(output)
		},
		DescribeState: func(state any) string {
			s := state.(smState)
			if s.code != "" {
				return s.conn + " " + s.code
			}
			return s.conn
		},
	}
	return nm.ToModel()
}

var (
	notConnected = []string{stateDisconnected, stateConnecting, stateFailed, stateDisconnecting}
	existing     = []string{stateDisconnected, stateConnecting, stateConnected, stateFailed, stateDisconnecting}
)

// smInputOf says what an operation tells the state model (false: nothing).
func (a *analysis) smInputOf(s *storeInfo, op *Operation) (smInput, bool) {
	if op.failedWith(excStoreNotFound) {
		return smInput{allowed: []string{stateDeleted}}, true
	}
	exc := op.errorType()
	unknown := op.isUnknown()
	switch op.Call {
	case callDescribeStores:
		if op.isOK() && op.State != "" {
			in := smInput{allowed: []string{op.State}}
			if op.State == stateFailed {
				in.code = op.ErrorCode
			}
			return in, true
		}
	case callConnect:
		switch {
		case op.isOK() || unknown:
			return smInput{allowed: []string{stateDisconnected, stateConnecting, stateConnected}, effect: effConnect, maybe: unknown}, true
		case exc == excInvalidState:
			// FAILED and DISCONNECTING refuse it (§6.1); whether CONNECTING
			// and CONNECTED may is unconfirmed (§14).
			return smInput{allowed: []string{stateFailed, stateDisconnecting, stateConnecting, stateConnected}}, true
		}
	case callDisconnect:
		switch {
		case op.isOK() || unknown:
			return smInput{allowed: []string{stateConnecting, stateConnected, stateFailed}, effect: effDisconnect, maybe: unknown}, true
		case exc == excInvalidState:
			return smInput{allowed: []string{stateDisconnected, stateDisconnecting}}, true
		}
	case callUpdateStore:
		renameOnly := op.Password == "" && op.NewCluster == ""
		switch {
		case op.isOK() && renameOnly:
			// A name may change in CONNECTED and DISCONNECTED; whether the
			// other states refuse it is inferred, not confirmed (§6.1).
			return smInput{allowed: existing}, true
		case op.isOK():
			return smInput{allowed: []string{stateDisconnected}}, true
		case exc == excInvalidState && renameOnly:
			return smInput{allowed: []string{stateConnecting, stateFailed, stateDisconnecting}}, true
		case exc == excInvalidState:
			return smInput{allowed: []string{stateConnecting, stateConnected, stateFailed, stateDisconnecting}}, true
		}
	case callDeleteStore:
		switch {
		case op.isOK() || unknown:
			return smInput{allowed: []string{stateDisconnected}, effect: effDelete, maybe: unknown}, true
		case exc == excInvalidState:
			return smInput{allowed: []string{stateConnecting, stateConnected, stateFailed, stateDisconnecting}}, true
		case exc == excHasCMKs:
			return smInput{allowed: []string{stateDisconnected}}, true
		}
	case callCreateKey, callGenerateRandom:
		switch {
		case op.isOK():
			return smInput{allowed: []string{stateConnected}}, true
		case exc == excInvalidState:
			return smInput{allowed: notConnected}, true
		}
	case callEncrypt, callDecrypt, callReEncrypt, callGenerateDataKey, callGenerateDataKeyWithoutPlaintext:
		// A key is usable only while its store is CONNECTED (§6.2).
		if op.isOK() {
			return smInput{allowed: []string{stateConnected}}, true
		}
	case callDescribeKey:
		if op.isOK() {
			switch op.KeyState {
			case "Unavailable":
				return smInput{allowed: notConnected}, true
			case "Enabled", "Disabled":
				return smInput{allowed: []string{stateConnected}}, true
			}
		}
	}
	return smInput{}, false
}

func checkConnectionStates(a *analysis) Verdict {
	var violations []Violation
	var records []linearizationRecord
	descriptions := 0
	for _, id := range a.storeOrder {
		s := a.stores[id]
		descriptions += len(s.observations)
		var steps []step[smInput]
		for _, op := range s.ops {
			if s.created != nil && op == s.created || op.Call == callCreateStore {
				continue
			}
			if in, ok := a.smInputOf(s, op); ok {
				steps = append(steps, step[smInput]{op: op, input: in})
			}
		}
		if len(steps) > 0 {
			rec := search("states of "+id, stateMachineModel(), porcupineHistory(steps, a.end))
			records = append(records, rec)
			if rec.result != porcupine.Ok {
				violations = append(violations, a.linearizationViolation(CheckConnectionStates, rec, s.id, "",
					"the calls and descriptions of store %s follow no order of the state machine the spec allows (§6.1)", id))
			}
		}
		violations = append(violations, a.codeRules(s)...)
		violations = append(violations, a.failedCodesExplained(s)...)
		violations = append(violations, a.connectedWhileBlocked(s)...)
	}
	violations = append(violations, a.identicalCreates()...)
	v := verdict(CheckConnectionStates, fmt.Sprintf("%s of %s, against the state machine and the faults in place",
		plural(descriptions, "description"), plural(len(a.stores), "store")), violations)
	v.models = records
	if v.Status == StatusPass && unknownResult(records) {
		v.Status = StatusUnknown
	}
	return v
}

// unknownResult reports whether a search ran out of time.
func unknownResult(records []linearizationRecord) bool {
	for _, r := range records {
		if r.result == porcupine.Unknown {
			return true
		}
	}
	return false
}

// linearizationViolation reports a failed porcupine search: the longest
// prefix it could order, and where it got stuck.
func (a *analysis) linearizationViolation(check string, rec linearizationRecord, store, key, format string, args ...any) Violation {
	msg := fmt.Sprintf(format, args...)
	if rec.result == porcupine.Unknown {
		msg += " (the search ran out of time)"
	}
	v := a.violation(check, msg, a.stuckOps(rec)...)
	v.Store, v.Key = store, key
	v.Visualization = visualizationName(rec.name)
	return v
}

// stuckOps returns the operations around where porcupine could order no
// further: of the operations no partial order reaches, the one that
// returned first (it had to be ordered by then), and the operations that
// overlap it.
func (a *analysis) stuckOps(rec linearizationRecord) []*Operation {
	seen := map[int]bool{}
	for _, partition := range rec.info.PartialLinearizationsOperations() {
		var longest []porcupine.Operation
		for _, lin := range partition {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
		for _, op := range longest {
			if o, ok := op.Output.(*Operation); ok {
				seen[o.ID] = true
			}
		}
	}
	var first *porcupine.Operation
	for i := range rec.history {
		op := &rec.history[i]
		if o, ok := op.Output.(*Operation); ok && !seen[o.ID] && (first == nil || op.Return < first.Return) {
			first = op
		}
	}
	if first == nil {
		return nil
	}
	stuck := first.Output.(*Operation)
	out := []*Operation{stuck}
	for i := range rec.history {
		op := &rec.history[i]
		if o, ok := op.Output.(*Operation); ok && o != stuck && op.Call <= first.Return && op.Return >= first.Call && len(out) < 12 {
			out = append(out, o)
		}
	}
	return out
}

// codeRules: ConnectionErrorCode is present exactly while FAILED, and is
// one of the CloudHSM codes (§2).
func (a *analysis) codeRules(s *storeInfo) []Violation {
	var out []Violation
	for _, o := range s.observations {
		switch {
		case o.State == stateFailed && o.ErrorCode == "":
			out = append(out, a.violation(CheckConnectionStates, "a FAILED store must carry its ConnectionErrorCode: "+o.String(), o))
		case o.State != stateFailed && o.ErrorCode != "":
			out = append(out, a.violation(CheckConnectionStates, "ConnectionErrorCode is only present while FAILED: "+o.String(), o))
		case o.ErrorCode != "" && !slices.Contains(cloudHSMErrorCodes, o.ErrorCode):
			out = append(out, a.violation(CheckConnectionStates, fmt.Sprintf("%s is not a code a CloudHSM key store can show: %s", o.ErrorCode, o), o))
		case o.State != "" && o.State != stateDeleted && !slices.Contains(connectionStates, o.State):
			out = append(out, a.violation(CheckConnectionStates, fmt.Sprintf("%s is not a connection state: %s", o.State, o), o))
		}
	}
	return out
}

// attemptStart returns the description that shows the store, before o, in
// a state no connect was under way in (DISCONNECTED, or FAILED/DISCONNECTING
// when they are all there is): the connect o shows the end of began after
// it started.
func attemptStart(s *storeInfo, o *Operation) *Operation {
	return s.lastObservationBefore(o.Start, stateDisconnected)
}

// failedCodesExplained: a FAILED store's code must be one that a fault
// possibly in place during the connect explains (§2, §7.3, and the
// control protocol's catalogue).
func (a *analysis) failedCodesExplained(s *storeInfo) []Violation {
	var out []Violation
	var previous *Operation
	for _, o := range s.observations {
		prev := previous
		previous = o
		if o.State != stateFailed || o.ErrorCode == "" {
			continue
		}
		if prev != nil && prev.State == stateFailed && prev.ErrorCode == o.ErrorCode {
			continue // the same failure, described again
		}
		from := int64(0)
		if q := attemptStart(s, o); q != nil {
			from = q.Start
		}
		if !a.codeExplained(s, o.ErrorCode, from, o.End) {
			q := attemptStart(s, o)
			out = append(out, a.violation(CheckConnectionStates, fmt.Sprintf(
				"store %s FAILED with %s, but nothing in place during its connect (%s to %s) explains that code: %s",
				s.id, o.ErrorCode, fmtNanos(from), fmtNanos(o.End), o), q, o))
		}
	}
	return out
}

// codeExplained reports whether a fault (or a wrong password) possibly in
// place on the store's cluster during [from, to] explains the code.
func (a *analysis) codeExplained(s *storeInfo, code string, from, to int64) bool {
	for _, w := range a.faultsPossiblyDuring(s, from, to) {
		f, known := a.catalogue[w.fault]
		if !known || f.Code == code {
			return true
		}
		switch code {
		case "NETWORK_ERRORS", "INTERNAL_ERROR", "INSUFFICIENT_CLOUDHSM_HSMS":
			// An HSM crashed, hung, deleted or cut off: the connect can
			// fail on the network, inside KMS, or find no usable HSM.
			if slices.Contains(hsmFaults, w.fault) || slices.Contains(hsmOptionalFaults, w.fault) {
				return true
			}
		}
	}
	switch code {
	case "INVALID_CREDENTIALS":
		return a.passwordPossiblyWrong(s, from, to) != nil
	case "USER_LOCKED_OUT":
		return a.wrongLoginsSinceReset(s, from, to)
	}
	return false
}

// wrongLoginsSinceReset reports whether a client set a wrong password
// (whose connects then fail logins and lock kmsuser out) that no password
// reset (a heal that reported a new password) followed before from.
func (a *analysis) wrongLoginsSinceReset(s *storeInfo, from, to int64) bool {
	for _, e := range a.passwordEvents(s) {
		if e.right || e.op.Call != callUpdateStore || e.op.Start > to {
			continue
		}
		reset := false
		for _, r := range a.passwordEvents(s) {
			if r.op.Call == callHeal && r.op.isOK() && r.op.Start > e.op.End && r.op.End < from {
				reset = true
			}
		}
		if !reset {
			return true
		}
	}
	return false
}

// connectedWhileBlocked: a store that was not CONNECTED and then is must
// have logged in to an HSM in between; if something certainly kept every
// login from succeeding all that time, CONNECTED was reported early.
func (a *analysis) connectedWhileBlocked(s *storeInfo) []Violation {
	var out []Violation
	var previous *Operation
	for _, o := range s.observations {
		prev := previous
		previous = o
		if o.State != stateConnected || prev != nil && prev.State == stateConnected {
			continue
		}
		q := attemptStart(s, o)
		if q == nil {
			continue
		}
		if blocked := a.blockedThroughout(s, q.Start, o.End); blocked != nil {
			out = append(out, a.violation(CheckConnectionStates, fmt.Sprintf(
				"store %s went from %s to CONNECTED although no connect could log in from %s to %s (%s in place all that time): %s",
				s.id, q.State, fmtNanos(q.Start), fmtNanos(o.End), strings.Join(blocked, ", "), o), q, o))
		}
	}
	return out
}

// identicalCreates: identical CreateCustomKeyStore calls (same name,
// cluster, trust anchor and password) must answer the same store (§7.1,
// an identical retry returns the existing ID).
func (a *analysis) identicalCreates() []Violation {
	groups := map[string][]*Operation{}
	var order []string
	for _, op := range a.ops {
		if op.Call == callCreateStore && op.NewName != "" && op.Workload == "create-store-twice" {
			if _, ok := groups[op.NewName]; !ok {
				order = append(order, op.NewName)
			}
			groups[op.NewName] = append(groups[op.NewName], op)
		}
	}
	var out []Violation
	for _, name := range order {
		ops := groups[name]
		ids := map[string]bool{}
		var refused []*Operation
		for _, op := range ops {
			switch {
			case op.isOK():
				ids[op.Store] = true
			case op.failedWith(excClusterInUse) || op.failedWith(excNameInUse):
				refused = append(refused, op)
			}
		}
		switch {
		case len(ids) > 1:
			out = append(out, a.violation(CheckConnectionStates, fmt.Sprintf(
				"identical CreateCustomKeyStore calls made %d stores: %s", len(ids), describeOps(ops...)), ops...))
		case len(ids) == 1 && len(refused) > 0:
			out = append(out, a.violation(CheckConnectionStates, fmt.Sprintf(
				"an identical CreateCustomKeyStore answered %s instead of the store the other made (an identical retry returns its ID, §7.1): %s",
				refused[0].errorType(), describeOps(ops...)), ops...))
		}
	}
	return out
}
