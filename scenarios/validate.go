package scenarios

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Bounds of a scenario's fields.
const (
	maxDuration     = time.Hour
	maxClusters     = 8
	maxHSMs         = 8
	maxKeys         = 64
	maxClients      = 64
	maxLiveness     = 10 * time.Minute
	minOpTimeout    = 100 * time.Millisecond
	maxOpTimeout    = 5 * time.Minute
	minObserveEvery = 20 * time.Millisecond
	maxObserveEvery = 10 * time.Second
	minEvery        = 100 * time.Millisecond
	maxStrikes      = 10000
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// faultNamePattern is the shape of a fault's name in the control protocol.
var faultNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validator collects the mistakes of a decoded scenario.
type validator struct {
	s    *Scenario
	errs []*FieldError
}

func (v *validator) fail(path, format string, args ...any) {
	if len(v.errs) < maxErrors {
		v.errs = append(v.errs, &FieldError{Source: v.s.Source, Line: v.s.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
	}
}

// Validate checks a scenario's fields against each other and their bounds
// (Parse calls it). It does not know the target: whether the target serves
// a fault is checked when the run starts.
func (s *Scenario) Validate() error {
	v := &validator{s: s}
	v.top()
	for i, w := range s.Workload {
		v.workload(index("workload", i), w)
	}
	v.spares()
	for i, st := range s.Steps {
		v.step(index("steps", i), st, true)
	}
	if len(v.errs) == 0 {
		v.pairing()
	}
	v.expectations()
	if len(v.errs) > 0 {
		return &ScenarioError{Errors: v.errs}
	}
	return nil
}

func (v *validator) top() {
	s := v.s
	if s.Name != "" && !namePattern.MatchString(s.Name) {
		v.fail("name", "%q: use lower-case letters, digits and dashes (at most 63)", s.Name)
	}
	if s.Duration <= 0 || s.Duration > maxDuration {
		v.fail("duration", "must be more than 0 and at most %s", maxDuration)
	}
	if s.Clusters < 1 || s.Clusters > maxClusters {
		v.fail("clusters", "must be from 1 to %d", maxClusters)
	}
	if s.SpareClusters < 0 || s.SpareClusters > maxClusters {
		v.fail("spare-clusters", "must be from 0 to %d", maxClusters)
	}
	if s.HSMs < 1 || s.HSMs > maxHSMs {
		v.fail("hsms", "must be from 1 to %d", maxHSMs)
	}
	if s.Keys < 0 || s.Keys > maxKeys {
		v.fail("keys", "must be from 0 to %d", maxKeys)
	}
	if s.OpTimeout < minOpTimeout || s.OpTimeout > maxOpTimeout {
		v.fail("op-timeout", "must be from %s to %s", minOpTimeout, maxOpTimeout)
	}
	if s.ObserveEvery < minObserveEvery || s.ObserveEvery > maxObserveEvery {
		v.fail("observe-every", "must be from %s to %s", minObserveEvery, maxObserveEvery)
	}
}

// window checks a from/to pair against the run's duration.
func (v *validator) window(path string, from, to time.Duration) {
	if from >= v.s.Duration && v.s.Duration > 0 {
		v.fail(join(path, "from"), "%s is not before the end of the run (%s)", from, v.s.Duration)
	}
	if to != 0 && to <= from {
		v.fail(join(path, "to"), "%s must be after from (%s)", to, from)
	}
	if to > v.s.Duration && v.s.Duration > 0 {
		v.fail(join(path, "to"), "%s is after the end of the run (%s)", to, v.s.Duration)
	}
}

func (v *validator) workload(path string, w Workload) {
	op, known := workloadOps[w.Op]
	if w.Op != "" && !known {
		v.fail(join(path, "op"), "unknown operation %q (known: %s)", w.Op, strings.Join(WorkloadOps(), ", "))
	}
	if w.Clients < 1 || w.Clients > maxClients {
		v.fail(join(path, "clients"), "must be from 1 to %d", maxClients)
	}
	if w.Store != nil {
		if known && op.kind == onSpare {
			v.fail(join(path, "store"), "%s makes stores of its own on spare clusters: give spare, not store", w.Op)
		} else if *w.Store < 0 || *w.Store >= v.s.Stores() {
			v.fail(join(path, "store"), "%d is not a store of the scenario (0 to %d)", *w.Store, v.s.Stores()-1)
		}
	}
	if known && op.kind == onKey && v.s.Keys == 0 {
		v.fail(join(path, "op"), "%s uses the stores' keys, but keys is 0", w.Op)
	}
	if known && op.kind == onSpare {
		if w.Spare < 0 || w.Spare+w.Clients > v.s.SpareClusters {
			v.fail(join(path, "spare"), "%s needs a spare cluster per client: spare clusters %d to %d, but spare-clusters is %d",
				w.Op, w.Spare, w.Spare+w.Clients-1, v.s.SpareClusters)
		}
	} else if w.Spare != 0 {
		v.fail(join(path, "spare"), "only operations that make their own stores use spare clusters")
	}
	v.window(path, w.From, w.To)
}

// spares checks that no two workload entries share a spare cluster.
func (v *validator) spares() {
	used := map[int]int{}
	for i, w := range v.s.Workload {
		if op, ok := workloadOps[w.Op]; !ok || op.kind != onSpare {
			continue
		}
		for c := w.Spare; c < w.Spare+w.Clients; c++ {
			if j, taken := used[c]; taken {
				v.fail(join(index("workload", i), "spare"), "spare cluster %d is used by workload[%d] too", c, j)
			}
			used[c] = i
		}
	}
}

// actions lists which of a step's action fields are set.
func (st Step) actions() []string {
	var out []string
	for _, a := range []struct {
		name string
		set  bool
	}{{"inject", st.Inject != ""}, {"heal", st.Heal != ""}, {"repair", st.Repair != nil}, {"pick", len(st.Pick) > 0},
		{"parallel", len(st.Parallel) > 0}, {"serial", len(st.Serial) > 0}} {
		if a.set {
			out = append(out, a.name)
		}
	}
	return out
}

func (v *validator) step(path string, st Step, top bool) {
	acts := st.actions()
	if len(acts) != 1 {
		if len(acts) == 0 {
			v.fail(path, "a step does one of inject, heal, repair, pick (a nemesis), parallel or serial")
		} else {
			v.fail(path, "a step does one thing, not %s", strings.Join(acts, " and "))
		}
		return
	}
	act := acts[0]
	nemesis := act == "pick"
	switch {
	case top && !nemesis && st.At == nil:
		v.fail(join(path, "at"), "required: when the step starts, from the start of the run")
	case !top && st.At != nil:
		v.fail(join(path, "at"), "only top-level steps have a time; in a serial group use after")
	case nemesis && st.At != nil:
		v.fail(join(path, "at"), "a nemesis runs from/to/every; it has no at")
	case st.At != nil && v.s.Duration > 0 && *st.At >= v.s.Duration:
		v.fail(join(path, "at"), "%s is not before the end of the run (%s)", *st.At, v.s.Duration)
	}
	if top && st.After != 0 {
		v.fail(join(path, "after"), "only steps of a serial group wait after the previous one")
	}
	if st.Deadline < 0 {
		v.fail(join(path, "deadline"), "cannot be negative")
	}
	if !nemesis {
		for _, f := range []struct {
			name string
			set  bool
		}{{"from", st.From != nil}, {"to", st.To != 0}, {"every", st.Every != 0}, {"hold", st.Hold != 0}} {
			if f.set {
				v.fail(join(path, f.name), "only a nemesis (pick) has %s", f.name)
			}
		}
	}
	switch act {
	case "inject", "heal":
		name := st.Inject + st.Heal
		if !faultNamePattern.MatchString(name) {
			v.fail(join(path, act), "%q is not a fault name (kmsharness fault list shows them)", name)
		}
		if st.Cluster == nil {
			v.fail(join(path, "cluster"), "required: the cluster the fault acts on (an index)")
		}
		v.scope(path, st)
	case "repair":
		if *st.Repair < 0 || *st.Repair >= v.s.Stores() {
			v.fail(join(path, "repair"), "%d is not a store of the scenario (0 to %d)", *st.Repair, v.s.Stores()-1)
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"cluster", st.Cluster != nil}, {"hsm", st.HSM != nil}, {"zone", st.Zone != nil}} {
			if f.set {
				v.fail(join(path, f.name), "a repair acts on a store; it takes no %s", f.name)
			}
		}
	case "pick":
		if !top {
			v.fail(path, "a nemesis is a top-level step")
		}
		if st.From == nil {
			v.fail(join(path, "from"), "required: when the nemesis starts")
		} else {
			to := st.To
			if to == 0 {
				to = v.s.Duration
			}
			v.window(path, *st.From, to)
		}
		switch {
		case st.Every <= 0:
			v.fail(join(path, "every"), "required: how often the nemesis strikes")
		case st.Every < minEvery:
			v.fail(join(path, "every"), "at least %s", minEvery)
		case v.s.Duration > 0 && st.Every > v.s.Duration:
			v.fail(join(path, "every"), "%s is longer than the run (%s)", st.Every, v.s.Duration)
		case st.From != nil && v.s.Duration > 0 && (v.s.Duration-*st.From)/st.Every > maxStrikes:
			v.fail(join(path, "every"), "%s strikes more than %d times in the run", st.Every, maxStrikes)
		}
		if st.Hold < 0 || (st.Every > 0 && st.Hold >= st.Every) {
			v.fail(join(path, "hold"), "must be shorter than every (%s)", st.Every)
		}
		for i, name := range st.Pick {
			if !faultNamePattern.MatchString(name) {
				v.fail(index(join(path, "pick"), i), "%q is not a fault name", name)
			}
		}
		v.scope(path, st)
	case "parallel", "serial":
		for _, f := range []struct {
			name string
			set  bool
		}{{"cluster", st.Cluster != nil}, {"hsm", st.HSM != nil}, {"zone", st.Zone != nil}} {
			if f.set {
				v.fail(join(path, f.name), "set it on the steps of the group")
			}
		}
		members := st.Parallel
		if act == "serial" {
			members = st.Serial
		}
		for i, m := range members {
			mp := index(join(path, act), i)
			if act == "parallel" && m.After != 0 {
				v.fail(join(mp, "after"), "the steps of a parallel group start together")
			}
			v.step(mp, m, false)
		}
	}
}

// scope checks a step's cluster, HSM and zone.
func (v *validator) scope(path string, st Step) {
	clusters := v.s.Clusters + v.s.SpareClusters
	if st.Cluster != nil && (*st.Cluster < 0 || *st.Cluster >= clusters) {
		v.fail(join(path, "cluster"), "%d is not a cluster of the scenario (0 to %d)", *st.Cluster, clusters-1)
	}
	if st.HSM != nil && (*st.HSM < 0 || *st.HSM >= v.s.HSMs) {
		v.fail(join(path, "hsm"), "%d is not an HSM of a cluster (0 to %d: the scenario's clusters have %d)", *st.HSM, v.s.HSMs-1, v.s.HSMs)
	}
	if st.Zone != nil && (*st.Zone < 0 || *st.Zone >= v.s.HSMs) {
		v.fail(join(path, "zone"), "%d is not a zone of a cluster (0 to %d at most)", *st.Zone, v.s.HSMs-1)
	}
	if st.HSM != nil && st.Zone != nil {
		v.fail(join(path, "zone"), "give hsm or zone, not both")
	}
}

// scopeKey identifies what a fault is in place on, for pairing injections
// with heals.
type scopeKey struct {
	fault         string
	cluster       int
	hsm, zone     int
	hsmSet, zoneS bool
}

func (st Step) key(fault string) scopeKey {
	k := scopeKey{fault: fault, cluster: -1}
	if st.Cluster != nil {
		k.cluster = *st.Cluster
	}
	if st.HSM != nil {
		k.hsm, k.hsmSet = *st.HSM, true
	}
	if st.Zone != nil {
		k.zone, k.zoneS = *st.Zone, true
	}
	return k
}

func (k scopeKey) String() string {
	s := fmt.Sprintf("%s on cluster %d", k.fault, k.cluster)
	if k.hsmSet {
		s += fmt.Sprintf(" HSM %d", k.hsm)
	}
	if k.zoneS {
		s += fmt.Sprintf(" zone %d", k.zone)
	}
	return s
}

// pairing checks, in the order the steps run, that every heal heals a
// fault an earlier step injected with the same scope, and that no fault is
// injected twice on one scope before its heal.
func (v *validator) pairing() {
	type item struct {
		at   time.Duration
		step Step
	}
	var top []item
	for _, st := range v.s.Steps {
		if st.At != nil {
			top = append(top, item{*st.At, st})
		}
	}
	slices.SortStableFunc(top, func(a, b item) int { return int(a.at - b.at) })
	inPlace := map[scopeKey]string{}
	var walk func(st Step, concurrent map[scopeKey]string)
	walk = func(st Step, group map[scopeKey]string) {
		switch {
		case st.Inject != "":
			k := st.key(st.Inject)
			if where, dup := inPlace[k]; dup {
				v.fail(join(st.path, "inject"), "%s is already in place (injected by %s); heal it first", k, where)
				return
			}
			if where, same := group[k]; same {
				v.fail(join(st.path, "inject"), "%s is healed by %s of the same parallel group", k, where)
			}
			inPlace[k] = st.path
		case st.Heal != "":
			k := st.key(st.Heal)
			if where, same := group[k]; same {
				v.fail(join(st.path, "heal"), "%s is injected by %s of the same parallel group", k, where)
				return
			}
			if _, ok := inPlace[k]; !ok {
				v.fail(join(st.path, "heal"), "%s is not in place then: no earlier step injects it with the same cluster, hsm and zone", k)
				return
			}
			delete(inPlace, k)
		case len(st.Serial) > 0:
			for _, m := range st.Serial {
				walk(m, group)
			}
		case len(st.Parallel) > 0:
			members := map[scopeKey]string{}
			for _, m := range st.Parallel {
				walk(m, members)
				if m.Inject != "" {
					members[m.key(m.Inject)] = m.path
				}
				if m.Heal != "" {
					members[m.key(m.Heal)] = m.path
				}
			}
		}
	}
	for _, it := range top {
		walk(it.step, nil)
	}
}

func (v *validator) expectations() {
	e := v.s.Expect
	if e.AllConnectedWithin <= 0 || e.AllConnectedWithin > maxLiveness {
		v.fail("expect", "all-connected-within must be more than 0 and at most %s", maxLiveness)
	}
	for i, a := range e.AtLeast {
		p := join(index("expect", v.expectIndex("at-least", i)), "at-least")
		if a.Call != "" && !slices.Contains(apiCalls, a.Call) {
			v.fail(join(p, "call"), "%q is not an operation the clients call (%s)", a.Call, strings.Join(apiCalls, ", "))
		}
		if !slices.Contains([]string{resultOK, resultFail, resultUnknown}, a.Outcome) {
			v.fail(join(p, "outcome"), "%q: want ok, fail or unknown", a.Outcome)
		}
		if a.Error != "" && a.Outcome != resultFail {
			v.fail(join(p, "error"), "only a failed call has an exception (outcome: fail)")
		}
		if a.Count < 1 {
			v.fail(join(p, "count"), "must be at least 1")
		}
	}
	for i, o := range e.Observed {
		p := join(index("expect", v.expectIndex("observed", i)), "observed")
		if o.State != "" && !slices.Contains(connectionStates, o.State) {
			v.fail(join(p, "state"), "%q is not a connection state (%s)", o.State, strings.Join(connectionStates, ", "))
		}
		if o.Code != "" && !slices.Contains(cloudHSMErrorCodes, o.Code) {
			v.fail(join(p, "code"), "%q is not a CloudHSM ConnectionErrorCode (%s)", o.Code, strings.Join(cloudHSMErrorCodes, ", "))
		}
		if o.Code != "" && o.State != stateFailed {
			v.fail(join(p, "code"), "only a FAILED store has an error code")
		}
		if o.Store != nil && (*o.Store < 0 || *o.Store >= v.s.Stores()) {
			v.fail(join(p, "store"), "%d is not a store of the scenario (0 to %d)", *o.Store, v.s.Stores()-1)
		}
	}
}

// expectIndex finds the list index of the n-th expectation of a kind, for
// messages (the expect list mixes kinds).
func (v *validator) expectIndex(kind string, n int) int {
	seen := 0
	for i := 0; ; i++ {
		p := join(index("expect", i), kind)
		if _, ok := v.s.lines[p]; ok {
			if seen == n {
				return i
			}
			seen++
		}
		if _, ok := v.s.lines[index("expect", i)]; !ok {
			return n
		}
	}
}
