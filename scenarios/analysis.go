package scenarios

import (
	"math"
	"slices"
	"sort"

	"github.com/kmsharness/kmsharness/control"
)

// never is a time after every operation of a history.
const never = int64(math.MaxInt64 / 2)

// analysis is what every check needs to know of a history, computed once:
// the stores and keys it saw, when which fault was (possibly, certainly) in
// place, what each store's descriptions read.
type analysis struct {
	h   *History
	ops []*Operation
	// byID finds an operation.
	byID map[int]*Operation
	// end is the end of the last operation.
	end int64
	// bound is the scenario's liveness bound, in nanoseconds.
	bound int64

	catalogue map[string]control.Fault
	// hsms lists every HSM ID the run saw of each cluster.
	hsms map[string][]string
	// faults are the fault windows, by start.
	faults []*faultWindow

	stores     map[string]*storeInfo
	storeOrder []string
	// keys maps a key ID to its store ID; keyCreated to the CreateKey that
	// made it (nil for keys the history does not show made).
	keys       map[string]string
	keyCreated map[string]*Operation
}

// storeInfo is what the history shows of one store.
type storeInfo struct {
	id string
	// index is the scenario's index, or -1 for a store a workload client
	// made on a spare cluster.
	index int
	name  string
	// cluster is the cluster the store was made on.
	cluster string
	// created is the CreateCustomKeyStore that made it (nil for the
	// scenario's stores when the history lacks it).
	created *Operation
	// ops are every operation on the store or its keys, by start.
	ops []*Operation
	// observations are its successful descriptions (and the ones that
	// found it gone), by start.
	observations []*Operation
	keys         []string
}

// faultWindow is when one injected fault was in place.
type faultWindow struct {
	fault, cluster, hsm string
	inject, heal        *Operation
	// The fault was possibly in place during [maybeFrom, maybeTill] and
	// certainly during [sureFrom, sureTill] (empty when sureFrom >
	// sureTill: the injection did not answer success).
	maybeFrom, maybeTill int64
	sureFrom, sureTill   int64
}

func (w *faultWindow) String() string {
	s := w.fault + " on " + w.cluster
	if w.hsm != "" {
		s += "/" + w.hsm
	}
	till := "end"
	if w.maybeTill < never {
		till = fmtNanos(w.maybeTill)
	}
	return s + " [" + fmtNanos(w.maybeFrom) + ", " + till + "]"
}

// possiblyDuring reports whether the fault may have been in place at some
// instant of [a, b].
func (w *faultWindow) possiblyDuring(a, b int64) bool { return w.maybeFrom <= b && w.maybeTill >= a }

// surelyThroughout reports whether the fault was certainly in place during
// all of [a, b].
func (w *faultWindow) surelyThroughout(a, b int64) bool {
	return w.sureFrom <= w.sureTill && w.sureFrom <= a && w.sureTill >= b
}

func analyse(h *History) *analysis {
	a := &analysis{h: h, byID: map[int]*Operation{}, catalogue: map[string]control.Fault{}, hsms: map[string][]string{},
		stores: map[string]*storeInfo{}, keys: map[string]string{}, keyCreated: map[string]*Operation{}}
	a.bound = int64(h.Scenario.Expect.AllConnectedWithin)
	if a.bound <= 0 {
		a.bound = int64(DefaultAllConnectedWithin)
	}
	for i := range h.Operations {
		op := &h.Operations[i]
		a.ops = append(a.ops, op)
		a.byID[op.ID] = op
		a.end = max(a.end, op.End)
	}
	sort.SliceStable(a.ops, func(i, j int) bool { return a.ops[i].Start < a.ops[j].Start })
	for _, f := range h.Catalogue {
		a.catalogue[f.Name] = f
	}
	for _, c := range h.Clusters {
		for _, hsm := range c.HSMs {
			if !slices.Contains(a.hsms[c.ID], hsm.HSMID) {
				a.hsms[c.ID] = append(a.hsms[c.ID], hsm.HSMID)
			}
		}
	}
	for _, s := range h.Stores {
		a.stores[s.ID] = &storeInfo{id: s.ID, index: s.Index, name: s.Name, cluster: s.Cluster}
		a.storeOrder = append(a.storeOrder, s.ID)
	}
	a.faultWindows()
	a.storesAndKeys()
	return a
}

// faultWindows pairs every injection with the heal of the same fault and
// scope that follows it.
func (a *analysis) faultWindows() {
	for i, op := range a.ops {
		if op.Call != callInject {
			continue
		}
		// A refusal (a 4xx of the control API) put nothing in place.
		if op.failedWith(excControlRefusedError) {
			continue
		}
		w := &faultWindow{fault: op.Fault, cluster: op.Cluster, hsm: op.HSM, inject: op,
			maybeFrom: op.Start, maybeTill: never, sureFrom: op.End, sureTill: never}
		if !op.isOK() {
			w.sureFrom, w.sureTill = 1, 0
		}
		for _, next := range a.ops[i+1:] {
			if next.Call == callHeal && next.Fault == op.Fault && next.Cluster == op.Cluster && next.HSM == op.HSM {
				w.heal = next
				if w.sureFrom <= w.sureTill {
					w.sureTill = next.Start
				}
				if next.isOK() || next.failedWith(excControlRefusedError) {
					w.maybeTill = next.End
				}
				break
			}
		}
		a.faults = append(a.faults, w)
	}
}

// storesAndKeys finds the stores (the scenario's and those clients made)
// and the keys of each, and files every operation under its store.
func (a *analysis) storesAndKeys() {
	for _, op := range a.ops {
		if op.Call == callCreateStore && op.isOK() && op.Store != "" {
			if s, ok := a.stores[op.Store]; ok {
				if s.created == nil {
					s.created = op
				}
			} else {
				a.stores[op.Store] = &storeInfo{id: op.Store, index: -1, name: op.NewName, cluster: op.Cluster, created: op}
				a.storeOrder = append(a.storeOrder, op.Store)
			}
		}
		if op.Call == callCreateKey && op.isOK() && op.Key != "" {
			a.keys[op.Key] = op.Store
			a.keyCreated[op.Key] = op
		}
	}
	for _, op := range a.ops {
		if op.Key != "" && op.Store != "" {
			if _, known := a.keys[op.Key]; !known {
				a.keys[op.Key] = op.Store
			}
		}
	}
	for key, store := range a.keys {
		if s := a.stores[store]; s != nil {
			s.keys = append(s.keys, key)
		}
	}
	for _, s := range a.stores {
		sort.Strings(s.keys)
	}
	for _, op := range a.ops {
		s := a.stores[op.Store]
		if s == nil || op.Call == callInject || op.Call == callHeal {
			continue
		}
		s.ops = append(s.ops, op)
		if op.Call == callDescribeStores && (op.isOK() && op.State != "" || op.failedWith(excStoreNotFound)) {
			s.observations = append(s.observations, op)
		}
	}
}

// observedState is the state a description read (stateDeleted when it
// found the store gone).
func observedState(op *Operation) string {
	if op.failedWith(excStoreNotFound) {
		return stateDeleted
	}
	return op.State
}

// clustersDuring lists the clusters a store may have used during [from,
// to]: the one it was made on, and those an UpdateCustomKeyStore may have
// moved it to by then.
func (a *analysis) clustersDuring(s *storeInfo, from, to int64) []string {
	current := []string{s.cluster}
	for _, op := range s.ops {
		if op.Call != callUpdateStore || op.NewCluster == "" || op.Start > to || op.isFail() {
			continue
		}
		if op.isOK() && op.End < from {
			current = []string{op.NewCluster}
		} else if !slices.Contains(current, op.NewCluster) {
			current = append(current, op.NewCluster)
		}
	}
	return current
}

// faultsOn lists the fault windows on the clusters.
func (a *analysis) faultsOn(clusters []string) []*faultWindow {
	var out []*faultWindow
	for _, w := range a.faults {
		if slices.Contains(clusters, w.cluster) {
			out = append(out, w)
		}
	}
	return out
}

// faultsPossiblyDuring lists the faults possibly in place on the store's
// clusters at some instant of [from, to].
func (a *analysis) faultsPossiblyDuring(s *storeInfo, from, to int64) []*faultWindow {
	var out []*faultWindow
	for _, w := range a.faultsOn(a.clustersDuring(s, from, to)) {
		if w.possiblyDuring(from, to) {
			out = append(out, w)
		}
	}
	return out
}

// faultNames describes fault windows for a message.
func faultNames(ws []*faultWindow) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// faultsAt lists every fault possibly in place at some instant of [from,
// to], on any cluster (for messages and the report).
func (a *analysis) faultsAt(from, to int64) []string {
	var out []*faultWindow
	for _, w := range a.faults {
		if w.possiblyDuring(from, to) {
			out = append(out, w)
		}
	}
	return faultNames(out)
}

// passwordEvent is a change of whether the store's kmsuser password (the
// one KMS holds) matches the cluster's.
type passwordEvent struct {
	op    *Operation
	right bool
}

// passwordEvents lists, by start, what made a store's password wrong (a
// client's wrong UpdateCustomKeyStore, an injection that changed kmsuser's
// password in its cluster, a heal that reported a new one) or right again
// (an update with a reported password).
func (a *analysis) passwordEvents(s *storeInfo) []passwordEvent {
	var out []passwordEvent
	for _, op := range s.ops {
		if op.Call == callUpdateStore && op.Password != "" && !op.isFail() {
			out = append(out, passwordEvent{op: op, right: op.Password == "reported"})
		}
	}
	deleted := never
	for _, op := range s.ops {
		if op.Call == callDeleteStore && op.isOK() {
			deleted = min(deleted, op.Start)
		}
	}
	created := int64(0)
	if s.created != nil {
		created = s.created.Start
	}
	for _, op := range a.ops {
		if op.Call != callInject && op.Call != callHeal || op.isFail() || op.End < created || op.Start > deleted {
			continue
		}
		if !slices.Contains(a.clustersDuring(s, op.Start, op.End), op.Cluster) {
			continue
		}
		changes := op.Call == callInject && slices.Contains(passwordChangingInjections, op.Fault) ||
			op.Call == callHeal && op.Reported != nil && op.Reported.PasswordChanged
		if changes {
			out = append(out, passwordEvent{op: op})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].op.Start < out[j].op.Start })
	return out
}

// passwordSurelyWrong reports whether the store's password was certainly
// wrong during all of [from, to], and the event that made it so.
func (a *analysis) passwordSurelyWrong(s *storeInfo, from, to int64) *Operation {
	var wrong *Operation
	for _, e := range a.passwordEvents(s) {
		switch {
		case e.op.Start > to:
			return wrong
		case e.right:
			wrong = nil
		case e.op.isOK() && e.op.End <= from:
			wrong = e.op
		}
	}
	return wrong
}

// passwordPossiblyWrong reports whether the store's password may have been
// wrong at some instant of [from, to].
func (a *analysis) passwordPossiblyWrong(s *storeInfo, from, to int64) *Operation {
	var wrong *Operation
	for _, e := range a.passwordEvents(s) {
		if e.op.Start > to {
			break
		}
		if e.right {
			if e.op.isOK() && e.op.End < from {
				wrong = nil
			}
			continue
		}
		wrong = e.op
	}
	return wrong
}

// blockedThroughout returns what certainly kept a connect of the store
// from logging in to any HSM during all of [from, to] (nil if nothing
// did): a fault that fails connects, unreaching faults on every HSM of the
// cluster, or a password KMS holds that is certainly wrong.
func (a *analysis) blockedThroughout(s *storeInfo, from, to int64) []string {
	clusters := a.clustersDuring(s, from, to)
	if len(clusters) != 1 {
		return nil
	}
	cluster := clusters[0]
	var connectionFaults []*faultWindow
	unreached := map[string][]*faultWindow{}
	for _, w := range a.faultsOn(clusters) {
		if !w.surelyThroughout(from, to) {
			continue
		}
		if f, known := a.catalogue[w.fault]; known && f.Code != "" {
			connectionFaults = append(connectionFaults, w)
		}
		if slices.Contains(unreachingFaults, w.fault) {
			if w.hsm != "" {
				unreached[w.hsm] = append(unreached[w.hsm], w)
			} else {
				for _, hsm := range a.hsms[cluster] {
					unreached[hsm] = append(unreached[hsm], w)
				}
			}
		}
	}
	if len(connectionFaults) > 0 {
		return faultNames(connectionFaults)
	}
	if hsms := a.hsms[cluster]; len(hsms) > 0 {
		var all []*faultWindow
		for _, hsm := range hsms {
			if len(unreached[hsm]) == 0 {
				all = nil
				break
			}
			all = append(all, unreached[hsm][0])
		}
		if all != nil {
			return faultNames(all)
		}
	}
	if op := a.passwordSurelyWrong(s, from, to); op != nil {
		return []string{"a wrong kmsuser password (" + op.String() + ")"}
	}
	return nil
}

// lastObservationBefore returns the store's observation that ended last
// before t and, when states is not empty, showed one of them.
func (s *storeInfo) lastObservationBefore(t int64, states ...string) *Operation {
	var best *Operation
	for _, o := range s.observations {
		if o.End >= t || len(states) > 0 && !slices.Contains(states, observedState(o)) {
			continue
		}
		if best == nil || o.End > best.End {
			best = o
		}
	}
	return best
}

// surelyConnected reports whether the store was certainly CONNECTED during
// all of [from, to]: descriptions read CONNECTED before and after, and no
// call that could change it (a connect, a disconnect, a delete) overlaps.
func (s *storeInfo) surelyConnected(from, to int64) bool {
	before := s.lastObservationBefore(from + 1)
	if before == nil || before.State != stateConnected {
		return false
	}
	var after *Operation
	for _, o := range s.observations {
		if o.Start >= to && (after == nil || o.Start < after.Start) {
			after = o
		}
	}
	if after == nil || after.State != stateConnected {
		return false
	}
	for _, op := range s.ops {
		switch op.Call {
		case callConnect, callDisconnect, callDeleteStore:
			if !op.isFail() && op.Start <= after.End && (op.End >= before.Start || op.isUnknown()) {
				return false
			}
		}
	}
	return true
}
