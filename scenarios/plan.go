package scenarios

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Action kinds of a plan.
const (
	actInject   = "inject"
	actHeal     = "heal"
	actRepair   = "repair"
	actParallel = "parallel"
	actSerial   = "serial"
)

// Plan is the fault schedule of a run, fixed by the scenario and the seed
// before the run starts: every step with its time, every nemesis pick with
// its fault, cluster and HSM. The same scenario, seed and duration give the
// same plan.
type Plan struct {
	Seed     uint64        `json:"seed"`
	Duration time.Duration `json:"duration"`
	// Scale is the factor applied to the scenario's times (duration over
	// the scenario's duration).
	Scale   float64  `json:"scale"`
	Actions []Action `json:"actions"`
}

// Action is one planned step of the schedule.
type Action struct {
	// At is when a top-level action starts (from the start of the run);
	// After how long a member of a serial group waits after the previous
	// one.
	At    time.Duration `json:"at"`
	After time.Duration `json:"after,omitempty"`
	Kind  string        `json:"kind"`
	Fault string        `json:"fault,omitempty"`
	// Cluster is an index into the run's clusters; HSM and Zone indexes
	// into the cluster's HSMs and zones (nil: not set).
	Cluster int  `json:"cluster"`
	HSM     *int `json:"hsm,omitempty"`
	Zone    *int `json:"zone,omitempty"`
	// HSMPick is the HSM a nemesis drew, used when the fault turns out to
	// need one.
	HSMPick *int `json:"hsmPick,omitempty"`
	// Store is the store a repair acts on.
	Store int `json:"store,omitempty"`
	// Steps are the members of a group.
	Steps    []Action      `json:"steps,omitempty"`
	Deadline time.Duration `json:"deadline"`
	// Origin names the scenario step ("steps[4]", "steps[5] pick 3") and
	// Line its line in the file.
	Origin string `json:"origin"`
	Line   int    `json:"line,omitempty"`
}

// String describes the action for people.
func (a Action) String() string {
	switch a.Kind {
	case actRepair:
		return fmt.Sprintf("repair store %d", a.Store)
	case actParallel, actSerial:
		return fmt.Sprintf("%s group of %d", a.Kind, len(a.Steps))
	}
	s := fmt.Sprintf("%s %s on cluster %d", a.Kind, a.Fault, a.Cluster)
	if a.HSM != nil {
		s += fmt.Sprintf(" HSM %d", *a.HSM)
	}
	if a.Zone != nil {
		s += fmt.Sprintf(" zone %d", *a.Zone)
	}
	return s
}

// NewPlan fixes the schedule of a run of s with seed, lasting duration (the
// scenario's own when 0; every time of the schedule scales with it).
func NewPlan(s *Scenario, seed uint64, duration time.Duration) *Plan {
	if duration <= 0 {
		duration = s.Duration
	}
	p := &Plan{Seed: seed, Duration: duration, Scale: float64(duration) / float64(s.Duration)}
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * p.Scale) }
	// The schedule's random choices come from a stream of their own, so
	// that they do not depend on the clients'.
	rng := rand.New(rand.NewPCG(seed, 0x5eed5c4ed01e))
	var nemeses []Step
	for _, st := range s.Steps {
		if len(st.Pick) > 0 {
			nemeses = append(nemeses, st)
			continue
		}
		a := plannedStep(st, scale)
		a.At = scale(*st.At)
		p.Actions = append(p.Actions, a)
	}
	// Nemesis picks avoid a scope the explicit steps hold the same fault
	// on, so that no injection is refused as already in place.
	busy := busyWindows(p.Actions)
	for _, st := range nemeses {
		p.Actions = append(p.Actions, nemesisActions(s, st, scale, duration, rng, &busy)...)
	}
	slices.SortStableFunc(p.Actions, func(a, b Action) int {
		switch {
		case a.At < b.At:
			return -1
		case a.At > b.At:
			return 1
		}
		return 0
	})
	return p
}

// plannedStep turns a scenario step (not a nemesis) into an action.
func plannedStep(st Step, scale func(time.Duration) time.Duration) Action {
	a := Action{After: scale(st.After), Deadline: st.Deadline, Origin: st.path, Line: st.line, HSM: st.HSM, Zone: st.Zone}
	if a.Deadline == 0 {
		a.Deadline = DefaultDeadline
	}
	if st.Cluster != nil {
		a.Cluster = *st.Cluster
	}
	switch {
	case st.Inject != "":
		a.Kind, a.Fault = actInject, st.Inject
	case st.Heal != "":
		a.Kind, a.Fault = actHeal, st.Heal
	case st.Repair != nil:
		a.Kind, a.Store = actRepair, *st.Repair
	case len(st.Parallel) > 0:
		a.Kind = actParallel
		for _, m := range st.Parallel {
			a.Steps = append(a.Steps, plannedStep(m, scale))
		}
	case len(st.Serial) > 0:
		a.Kind = actSerial
		for _, m := range st.Serial {
			a.Steps = append(a.Steps, plannedStep(m, scale))
		}
	}
	return a
}

// busyWindow is a time a fault is planned in place on a scope.
type busyWindow struct {
	fault      string
	cluster    int
	hsm        *int
	from, till time.Duration
}

func (w busyWindow) overlaps(fault string, cluster int, hsm *int, from, till time.Duration) bool {
	if w.fault != fault || w.cluster != cluster || from >= w.till || till <= w.from {
		return false
	}
	return w.hsm == nil || hsm == nil || *w.hsm == *hsm
}

// busyWindows lists when the explicit steps hold which fault in place
// (group members count at the group's time; an unhealed fault until the
// end).
func busyWindows(actions []Action) []busyWindow {
	var flat []Action
	var walk func(a Action, at time.Duration)
	walk = func(a Action, at time.Duration) {
		a.At = at
		flat = append(flat, a)
		for _, m := range a.Steps {
			walk(m, at+m.After)
		}
	}
	for _, a := range actions {
		walk(a, a.At)
	}
	slices.SortStableFunc(flat, func(a, b Action) int { return int(a.At - b.At) })
	var out []busyWindow
	for i, a := range flat {
		if a.Kind != actInject {
			continue
		}
		w := busyWindow{fault: a.Fault, cluster: a.Cluster, hsm: a.HSM, from: a.At, till: time.Duration(1<<62 - 1)}
		for _, b := range flat[i+1:] {
			if b.Kind == actHeal && b.Fault == a.Fault && b.Cluster == a.Cluster && samePtr(b.HSM, a.HSM) && samePtr(b.Zone, a.Zone) {
				w.till = b.At
				break
			}
		}
		out = append(out, w)
	}
	return out
}

func samePtr(a, b *int) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// nemesisActions expands a nemesis into its injections and heals: every
// Every from From to To, a fault, cluster and HSM drawn from rng.
func nemesisActions(s *Scenario, st Step, scale func(time.Duration) time.Duration, duration time.Duration, rng *rand.Rand, busy *[]busyWindow) []Action {
	from, to, every, hold := scale(*st.From), scale(st.To), scale(st.Every), scale(st.Hold)
	if st.To == 0 {
		to = duration
	}
	if hold == 0 {
		hold = every / 2
	}
	deadline := st.Deadline
	if deadline == 0 {
		deadline = DefaultDeadline
	}
	var out []Action
	for k, at := 0, from; every > 0 && at >= from && at < to; k, at = k+1, at+every {
		// Draw the fault, cluster and HSM; draw again (at most ten times)
		// when the explicit steps hold that fault there then.
		var a Action
		placed := false
		for try := 0; try < 10 && !placed; try++ {
			fault := st.Pick[rng.IntN(len(st.Pick))]
			cluster := rng.IntN(s.Clusters)
			if st.Cluster != nil {
				cluster = *st.Cluster
			}
			pick := rng.IntN(s.HSMs)
			if st.HSM != nil {
				pick = *st.HSM
			}
			var hsm *int
			if st.HSM != nil || slices.Contains(hsmFaults, fault) || slices.Contains(hsmOptionalFaults, fault) {
				hsm = &pick
			}
			if st.Zone != nil {
				hsm = nil
			}
			conflict := false
			for _, w := range *busy {
				if w.overlaps(fault, cluster, hsm, at, at+hold) {
					conflict = true
				}
			}
			if conflict {
				continue
			}
			placed = true
			origin := fmt.Sprintf("%s pick %d", st.path, k)
			a = Action{At: at, Kind: actInject, Fault: fault, Cluster: cluster, HSM: hsm, Zone: st.Zone, HSMPick: &pick,
				Deadline: deadline, Origin: origin, Line: st.line}
			*busy = append(*busy, busyWindow{fault: fault, cluster: cluster, hsm: hsm, from: at, till: at + hold})
		}
		if !placed {
			continue
		}
		heal := a
		heal.Kind, heal.At = actHeal, at+hold
		out = append(out, a, heal)
	}
	return out
}
