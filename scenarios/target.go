package scenarios

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kmsharness/kmsharness/control"
)

// Target is a KMS implementation to run scenarios against: the KMS
// endpoint the AWS SDK talks to, the region and credentials it signs with,
// and the target's fault-control API (docs/control-protocol.md), which must
// serve clusters and faults.
type Target struct {
	Endpoint    string
	Region      string
	Credentials aws.CredentialsProvider
	Control     *control.Client
}

// Progress is what a run reports while it runs (WithProgress).
type Progress struct {
	// Phase is setup, run, settle or verify.
	Phase string
	// Elapsed of Total: the run phase's time so far and its planned length.
	Elapsed, Total time.Duration
	// Operations recorded so far, and calls per second over the last
	// report's interval.
	Operations   int
	OpsPerSecond float64
	// Faults lists the faults in place ("user-locked-out on cluster 0").
	Faults []string
}

// Event is something notable a run did (WithEvents): a phase began, a
// fault was injected or healed, a store repaired.
type Event struct {
	// At is the time since the run's start.
	At   time.Duration
	Text string
}

type runOptions struct {
	seed      *uint64
	duration  time.Duration
	reportDir string
	keep      bool
	progress  func(Progress)
	events    func(Event)
	replay    func(seed uint64, duration time.Duration) string
	logger    *slog.Logger
	userCode  []func(ctx context.Context, c UserClient)
}

// Option configures Run.
type Option func(*runOptions)

// WithSeed fixes the seed (the scenario's own, or a random one, otherwise).
func WithSeed(seed uint64) Option { return func(o *runOptions) { o.seed = &seed } }

// WithDuration runs the scenario for d instead of its own duration; every
// time of its schedule and workload scales with it (not the liveness
// bound).
func WithDuration(d time.Duration) Option { return func(o *runOptions) { o.duration = d } }

// WithReportDir puts the run's artefacts (history.json, report.html, the
// porcupine visualisations) in dir instead of a new temporary directory.
func WithReportDir(dir string) Option { return func(o *runOptions) { o.reportDir = dir } }

// WithKeep keeps the artefacts of a run that passed (those of a failed run
// are always kept).
func WithKeep(keep bool) Option { return func(o *runOptions) { o.keep = keep } }

// WithProgress calls fn about twice a second while the run runs.
func WithProgress(fn func(Progress)) Option { return func(o *runOptions) { o.progress = fn } }

// WithEvents calls fn for each notable thing the run does.
func WithEvents(fn func(Event)) Option { return func(o *runOptions) { o.events = fn } }

// WithReplayCommand sets how the command line that replays a run is
// written (by default a `kmsharness chaos run` line).
func WithReplayCommand(fn func(seed uint64, duration time.Duration) string) Option {
	return func(o *runOptions) { o.replay = fn }
}

// WithLogger sets a logger for what goes wrong outside the history
// (cleanup), at debug level.
func WithLogger(l *slog.Logger) Option { return func(o *runOptions) { o.logger = l } }

// Result is the outcome of a run.
type Result struct {
	Scenario string
	Seed     uint64
	Duration time.Duration
	Verdicts []Verdict
	History  *History
	// Dir holds the run's artefacts; "" when they were removed (the run
	// passed and WithKeep was not given).
	Dir string
	// Replay is the command line that replays the run.
	Replay string
	// Elapsed is how long the whole run took, set-up and checks included.
	Elapsed time.Duration
}

// Passed reports whether every check held.
func (r *Result) Passed() bool { return r != nil && Passed(r.Verdicts) }

// Violations lists every violation of every check.
func (r *Result) Violations() []Violation {
	var out []Violation
	for _, v := range r.Verdicts {
		out = append(out, v.Violations...)
	}
	return out
}
