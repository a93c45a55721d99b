package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The errors check: every failed AWS call carries an exception the spec
// declares for that operation (§4) and that the call's circumstances
// allow: a server error (5xx) only while a fault on the store's cluster was
// possibly in place (or recovering from one, within the liveness bound) or
// after the call waited a second or more on its cluster, a key that is
// unavailable only when its store may not be CONNECTED or its cluster is in
// trouble (§8.3). Never an untyped error or an answer that is
// not AWS JSON. Some exceptions are judged by another check, which knows
// more: a CustomKeyStoreInvalidStateException by the connection-state
// model, a NotFoundException for a key CreateKey acknowledged by
// durability, a DisabledException by the key's register.

// slowCall is how long a call must have lasted for its server error to be
// put down to a slow cluster rather than to the target.
const slowCall = time.Second

// allowance says when an exception is allowed.
type allowance int

const (
	// always: at any time (throttling, the quotas).
	always allowance = iota
	// judged: allowed here, judged by another check.
	judged
	// ifFault: while a fault on the store's cluster is possibly in place,
	// or was within the liveness bound before the call.
	ifFault
	// ifUnavailable: while the store may not be CONNECTED, or ifFault.
	ifUnavailable
	// ifKeys: while the store has keys (CustomKeyStoreHasCMKsException).
	ifKeys
	// ifClusterTaken: while another store (made by another
	// CreateCustomKeyStore) may hold the cluster.
	ifClusterTaken
)

// cryptoErrors are the exceptions of a cryptographic call on a key of a
// CloudHSM key store (§4.11–4.13, §8.3).
var cryptoErrors = map[string]allowance{
	excKMSInvalidState: ifUnavailable, excDisabled: judged, excNotFound: judged, excKMSInternal: ifFault,
	excKeyUnavailable: ifFault, excDependencyTimeout: ifFault, excThrottling: always,
}

// errorRules maps each call the clients make to the exceptions it may
// answer, and when. An exception missing from a call's map is never right
// for the inputs the clients send.
var errorRules = map[string]map[string]allowance{
	callEncrypt:                         cryptoErrors,
	callGenerateDataKey:                 cryptoErrors,
	callGenerateDataKeyWithoutPlaintext: cryptoErrors,
	callDecrypt:                         withErrors(cryptoErrors, map[string]allowance{excInvalidCiphertext: judged}),
	callReEncrypt:                       withErrors(cryptoErrors, map[string]allowance{excInvalidCiphertext: judged}),
	callGenerateRandom: {excInvalidState: judged, excStoreNotFound: judged, excKMSInternal: ifFault, excDependencyTimeout: ifFault,
		excThrottling: always},
	callCreateKey: {excInvalidState: judged, excStoreNotFound: judged, excClusterInvalidConf: ifFault, excKMSInternal: ifFault,
		excDependencyTimeout: ifFault, excLimitExceeded: always, excThrottling: always},
	callDescribeKey:    {excNotFound: judged, excThrottling: always},
	callEnableKey:      {excNotFound: judged, excThrottling: always},
	callDisableKey:     {excNotFound: judged, excThrottling: always},
	callDescribeStores: {excStoreNotFound: judged, excThrottling: always},
	callConnect: {excInvalidState: judged, excStoreNotFound: judged, excClusterNotActive: ifFault, excClusterInvalidConf: ifFault,
		excKMSInternal: ifFault, excThrottling: always},
	callDisconnect: {excInvalidState: judged, excStoreNotFound: judged, excThrottling: always},
	callUpdateStore: {excInvalidState: judged, excStoreNotFound: judged, excClusterNotFound: ifFault, excClusterNotRelated: ifFault,
		excClusterNotActive: ifFault, excClusterInvalidConf: ifFault, excThrottling: always},
	callDeleteStore: {excInvalidState: judged, excStoreNotFound: judged, excHasCMKs: ifKeys, excThrottling: always},
	callCreateStore: {excClusterInUse: ifClusterTaken, excClusterNotFound: ifFault, excClusterNotActive: ifFault,
		excClusterInvalidConf: ifFault, excIncorrectAnchor: ifFault, excLimitExceeded: always, excThrottling: always},
}

func withErrors(base, more map[string]allowance) map[string]allowance {
	out := map[string]allowance{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func checkErrors(a *analysis) Verdict {
	var violations []Violation
	failed := 0
	byType := map[string]int{}
	for _, op := range a.ops {
		rules, isAPI := errorRules[op.Call]
		if !isAPI || !op.isFail() {
			continue
		}
		failed++
		exc := op.errorType()
		byType[exc]++
		if msg := a.errorViolation(op, rules, exc); msg != "" {
			violations = append(violations, a.violation(CheckErrors, msg, op))
		}
	}
	var kinds []string
	for k, n := range byType {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(kinds)
	summary := plural(failed, "failed call")
	if len(kinds) > 0 {
		summary += " (" + strings.Join(kinds, ", ") + ")"
	}
	return verdict(CheckErrors, summary+", each against the exceptions its operation may answer then", violations)
}

// errorViolation says what is wrong with a failed call's exception ("" if
// nothing is).
func (a *analysis) errorViolation(op *Operation, rules map[string]allowance, exc string) string {
	status := ""
	if op.Error.Status != 0 {
		status = fmt.Sprintf(" (HTTP %d)", op.Error.Status)
	}
	switch exc {
	case excUntyped:
		return fmt.Sprintf("%s answered an error without an exception type%s: %s", op.Call, status, op)
	case excNotAWSJSON:
		return fmt.Sprintf("%s answered something that is not AWS JSON%s: %s", op.Call, status, op)
	}
	rule, declared := rules[exc]
	if !declared {
		return fmt.Sprintf("%s cannot answer %s here: the spec allows %s — %s", op.Call, exc, allowedList(rules), op)
	}
	s := a.stores[op.Store]
	// A call that took a second or more before it failed met a cluster too
	// slow to answer (a loaded machine): the target may say it could not
	// reach it. A quick failure with nothing wrong is the target's own.
	slow := op.End-op.Start >= int64(slowCall)
	faultNearby := func() bool {
		return slow || s != nil && len(a.faultsPossiblyDuring(s, op.Start-a.bound, op.End)) > 0
	}
	switch rule {
	case ifFault:
		// A cluster out of PKCS#11 sessions answers KMSInternalException
		// under bursts (§8.3): that one needs no fault.
		if exc == excKMSInternal && op.Error != nil && strings.Contains(strings.ToLower(op.Error.Message), "session") {
			return ""
		}
		if !faultNearby() {
			return fmt.Sprintf("%s answered %s%s at once, with no fault on the store's cluster in place or recently healed: %s", op.Call, exc, status, op)
		}
	case ifUnavailable:
		if s != nil && s.surelyConnected(op.Start, op.End) && !faultNearby() {
			return fmt.Sprintf("%s answered %s at once, while its store was CONNECTED throughout and no fault was in place on its cluster: %s", op.Call, exc, op)
		}
	case ifKeys:
		if s != nil && len(s.keys) == 0 {
			return fmt.Sprintf("%s answered %s for a store that never had a key: %s", op.Call, exc, op)
		}
	case ifClusterTaken:
		if !a.clusterPossiblyTaken(op) {
			return fmt.Sprintf("%s answered %s although no other store held the cluster: %s", op.Call, exc, op)
		}
	}
	return ""
}

// allowedList names the exceptions of a rule set.
func allowedList(rules map[string]allowance) string {
	var names []string
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// clusterPossiblyTaken reports whether a store made by another
// CreateCustomKeyStore (another name) may have held the cluster when op
// ran: made before op ended and not certainly deleted before it started.
func (a *analysis) clusterPossiblyTaken(op *Operation) bool {
	for _, id := range a.storeOrder {
		s := a.stores[id]
		if s.cluster != op.Cluster || s.name == op.NewName {
			continue
		}
		if s.created != nil && s.created.Start > op.End {
			continue
		}
		deleted := false
		for _, d := range s.ops {
			if d.Call == callDeleteStore && d.isOK() && d.End < op.Start {
				deleted = true
			}
		}
		if !deleted {
			return true
		}
	}
	// A create whose outcome is unknown may have made one.
	for _, other := range a.ops {
		if other.Call == callCreateStore && other.Cluster == op.Cluster && other.NewName != op.NewName && other.isUnknown() && other.Start < op.End {
			return true
		}
	}
	return false
}
