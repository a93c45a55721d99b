package scenarios

import (
	"time"
)

// Scenario is a chaos scenario: the clusters and stores it needs, the
// clients that run for its whole duration, the fault schedule, and what it
// expects on top of the checks that always run. docs/scenarios.md documents
// every field.
type Scenario struct {
	// Name names the scenario (lower case, digits and dashes).
	Name string `json:"name"`
	// Description says what the scenario rehearses.
	Description string `json:"description,omitempty"`
	// Seed fixes every random choice; nil draws one (and the run prints it).
	Seed *uint64 `json:"seed,omitempty"`
	// Duration is how long the clients run.
	Duration time.Duration `json:"duration"`
	// Clusters is how many ready clusters the run makes, each with a custom
	// key store connected before the run; SpareClusters how many more it
	// makes without a store, for workload operations that make their own.
	Clusters      int `json:"clusters"`
	SpareClusters int `json:"spareClusters,omitempty"`
	// HSMs is how many HSMs each cluster gets.
	HSMs int `json:"hsms"`
	// Keys is how many CloudHSM keys the run makes in each store before it
	// starts.
	Keys int `json:"keys"`
	// OpTimeout bounds one call of a client: a call that has no answer by
	// then has an unknown outcome.
	OpTimeout time.Duration `json:"opTimeout"`
	// ObserveEvery is how often the run's observer describes every store.
	ObserveEvery time.Duration `json:"observeEvery"`
	// Workload lists the clients.
	Workload []Workload `json:"workload,omitempty"`
	// Steps is the fault schedule.
	Steps []Step `json:"steps,omitempty"`
	// Expect lists what the scenario expects besides the checks that always
	// run.
	Expect Expectations `json:"expect"`

	// Source names where the scenario came from (a file, or
	// "builtin:NAME"); Text is the file as written.
	Source string `json:"source,omitempty"`
	Text   string `json:"text,omitempty"`

	// lines maps a field's path ("steps[2].cluster") to its line in Text.
	lines map[string]int
}

// Workload is a kind of client: Clients of them call Op, each at its share
// of Rate, from From to To (the whole run by default).
type Workload struct {
	// Op is what each call does (an operation of the catalogue in
	// workload.go: encrypt, reconnect, …).
	Op string `json:"op"`
	// Clients is how many clients run it at once.
	Clients int `json:"clients"`
	// Rate is the calls per second of all its clients together; 0 is
	// unthrottled.
	Rate float64 `json:"rate,omitempty"`
	// Store restricts the clients to one store (an index into the
	// scenario's stores); nil lets each call pick one.
	Store *int `json:"store,omitempty"`
	// Spare is the first spare cluster the clients of a store-lifecycle
	// operation use (client i uses spare cluster Spare+i).
	Spare int `json:"spare,omitempty"`
	// From and To bound when the clients run (To 0: until the end).
	From time.Duration `json:"from,omitempty"`
	To   time.Duration `json:"to,omitempty"`
}

// Step is one entry of the fault schedule: an injection, a heal, a repair,
// a nemesis, or a group of steps run in parallel or one after the other.
type Step struct {
	// At is when the step starts, from the start of the run (top-level
	// steps other than a nemesis).
	At *time.Duration `json:"at,omitempty"`
	// After is how long a step of a serial group waits after the previous
	// one ended.
	After time.Duration `json:"after,omitempty"`

	// Inject and Heal name a fault of the target's catalogue.
	Inject string `json:"inject,omitempty"`
	Heal   string `json:"heal,omitempty"`
	// Cluster is the cluster the fault acts on (an index into the
	// scenario's clusters; spare clusters follow the others).
	Cluster *int `json:"cluster,omitempty"`
	// HSM is the HSM (an index into the cluster's HSMs as the control API
	// lists them) for faults that act on one.
	HSM *int `json:"hsm,omitempty"`
	// Zone makes the step act on every HSM of one availability zone (an
	// index into the cluster's zones, sorted by name).
	Zone *int `json:"zone,omitempty"`

	// Repair is a store (an index) to repair along AWS's path: disconnect,
	// update with what the heals reported since the last repair, connect.
	Repair *int `json:"repair,omitempty"`

	// A nemesis: every Every from From to To, a fault picked (seeded) from
	// Pick is injected on a cluster (and HSM) picked the same way, held for
	// Hold, and healed.
	From  *time.Duration `json:"from,omitempty"`
	To    time.Duration  `json:"to,omitempty"`
	Every time.Duration  `json:"every,omitempty"`
	Hold  time.Duration  `json:"hold,omitempty"`
	Pick  []string       `json:"pick,omitempty"`

	// Parallel steps start together; Serial steps one after the other.
	Parallel []Step `json:"parallel,omitempty"`
	Serial   []Step `json:"serial,omitempty"`
	// Deadline bounds how long the step (or group) may take.
	Deadline time.Duration `json:"deadline,omitempty"`

	// path is the step's place in the file ("steps[3].serial[1]") and line
	// its line, for messages.
	path string
	line int
}

// Expectations are what a scenario expects on top of the checks that
// always run.
type Expectations struct {
	// AllConnectedWithin bounds how long after the last heal or repair every
	// store must be CONNECTED again and serve cryptography.
	AllConnectedWithin time.Duration `json:"allConnectedWithin"`
	// AtLeast lists counts of outcomes the run must reach (that a fault
	// really bit, that clients really ran).
	AtLeast []AtLeast `json:"atLeast,omitempty"`
	// Observed lists connection states some description must show.
	Observed []Observed `json:"observed,omitempty"`
}

// AtLeast expects at least Count calls of Call (an AWS operation name)
// with Outcome (ok, fail or unknown) and, when set, exception Error.
type AtLeast struct {
	Call    string `json:"call"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	Count   int    `json:"count"`
}

// Observed expects a description of a store (Store, or any when nil) to
// show State (and ConnectionErrorCode Code when set).
type Observed struct {
	Store *int   `json:"store,omitempty"`
	State string `json:"state"`
	Code  string `json:"code,omitempty"`
}

// Defaults of the optional fields.
const (
	DefaultHSMs               = 2
	DefaultKeys               = 2
	DefaultOpTimeout          = 10 * time.Second
	DefaultObserveEvery       = 200 * time.Millisecond
	DefaultAllConnectedWithin = 30 * time.Second
	DefaultDeadline           = 2 * time.Minute
)

// Stores returns how many custom key stores the scenario makes before the
// run (one per non-spare cluster).
func (s *Scenario) Stores() int { return s.Clusters }

// line returns the line of a field path, or of its closest parent.
func (s *Scenario) line(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := s.lines[p]; ok {
			return l
		}
	}
	return 0
}

// parentPath strips the last element of a field path.
func parentPath(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		switch p[i] {
		case '.':
			return p[:i]
		case '[':
			return p[:i]
		}
	}
	return ""
}
