package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/kms"
	"github.com/kmsharness/kmsharness/scenarios"
)

// errViolation means a check of a chaos run failed (exit status 1, after
// the verdicts).
var errViolation = errors.New("a check failed (see the verdicts above)")

func newChaosCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run chaos scenarios: seeded fault schedules under live traffic, the history checked against a model",
		Long: `chaos runs scenarios (docs/scenarios.md): clients call the KMS API while a seeded
schedule injects and heals faults through the control API; every call is
recorded, and the history is checked (connection states, linearizability,
durability, liveness, errors). Exit status: 0 when every check holds, 1 on a
violation, 2 on a bad command line or scenario file.`,
	}
	cmd.AddCommand(newChaosListCommand(), newChaosRunCommand(), newChaosCheckCommand())
	return cmd
}

func newChaosListCommand() *cobra.Command {
	var names bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios, one line each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, s := range scenarios.Builtins() {
				if names {
					fmt.Fprintln(w, s.Name)
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, s.Duration, firstSentence(s.Description))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&names, "names", false, "print the names only")
	return cmd
}

// firstSentence shortens a description to its first sentence.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

type chaosRunFlags struct {
	seed         uint64
	seedSet      bool
	duration     time.Duration
	report       string
	keep         bool
	endpoint     string
	region       string
	backend      string
	controlFlags controlFlags
}

func newChaosRunCommand() *cobra.Command {
	var f chaosRunFlags
	cmd := &cobra.Command{
		Use:   "run NAME|FILE [--seed N] [--duration D] [--report DIR] [--keep] [--endpoint URL --control URL]",
		Short: "Run a scenario (a built-in's name, or a YAML file)",
		Long: `run runs a scenario against a harness it starts (--backend process or container)
or, with --endpoint and --control, against any KMS that serves the fault-control
protocol (credentials and region from the usual AWS environment). It prints the
command line that replays the run, progress while it runs, then the verdicts.
The report (report.html, history.json) goes to --report DIR, or a temporary
directory; it is removed when every check holds, unless --keep.`,
		Args: exactArgs(1, "NAME|FILE: a built-in scenario (kmsharness chaos list) or a scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.seedSet = cmd.Flags().Changed("seed")
			return runChaos(cmd.Context(), args[0], f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().Uint64Var(&f.seed, "seed", 0, "the seed (default: the scenario's, else a random one, printed)")
	cmd.Flags().DurationVar(&f.duration, "duration", 0, "run for this long instead; the schedule scales with it")
	cmd.Flags().StringVar(&f.report, "report", "", "write the report to this directory")
	cmd.Flags().BoolVar(&f.keep, "keep", false, "keep the report even when every check holds")
	cmd.Flags().StringVar(&f.endpoint, "endpoint", "", "the KMS endpoint of another implementation (needs --control)")
	cmd.Flags().StringVar(&f.region, "region", "", "AWS region for --endpoint (default: the AWS environment's, else us-east-1)")
	cmd.Flags().StringVar(&f.backend, "backend", string(harness.BackendProcess), "where the harness's HSM nodes run when there is no --endpoint: process or container")
	f.controlFlags.register(cmd)
	return cmd
}

func runChaos(parent context.Context, nameOrFile string, f chaosRunFlags, stdout, stderr io.Writer) error {
	s, err := scenarios.Load(nameOrFile)
	if err != nil {
		return scenarioError(err)
	}
	if f.duration < 0 {
		return usageError{errors.New("--duration cannot be negative")}
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	target, closeTarget, err := chaosTarget(ctx, f, stderr)
	if err != nil {
		return err
	}
	defer closeTarget()
	out := newProgressPrinter(stderr)
	opts := []scenarios.Option{scenarios.WithKeep(f.keep), scenarios.WithEvents(out.event), scenarios.WithProgress(out.progress)}
	if f.seedSet {
		opts = append(opts, scenarios.WithSeed(f.seed))
	}
	if f.duration > 0 {
		opts = append(opts, scenarios.WithDuration(f.duration))
	}
	if f.report != "" {
		opts = append(opts, scenarios.WithReportDir(f.report))
	}
	fmt.Fprintf(stdout, "chaos scenario %s against %s\n", s.Name, target.Endpoint)
	res, err := scenarios.Run(ctx, target, s, opts...)
	out.done()
	if err != nil {
		return scenarioError(err)
	}
	printVerdicts(stdout, res.Verdicts)
	status := "PASS"
	if !res.Passed() {
		status = "FAIL"
	}
	fmt.Fprintf(stdout, "%s %s (seed %d, %s) in %s: %d operations\n", status, res.Scenario, res.Seed, res.Duration,
		res.Elapsed.Round(100*time.Millisecond), len(res.History.Operations))
	if res.Dir != "" {
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(res.Dir, scenarios.ReportFile))
	}
	fmt.Fprintf(stdout, "replay: %s\n", res.Replay)
	if !res.Passed() {
		return errViolation
	}
	return nil
}

// chaosTarget returns the target of a run: the endpoint the flags name, or
// a harness started for the run (and how to stop it).
func chaosTarget(ctx context.Context, f chaosRunFlags, stderr io.Writer) (scenarios.Target, func(), error) {
	if f.endpoint != "" {
		if f.controlFlags.url == "" && os.Getenv("KMSHARNESS_CONTROL") == "" {
			return scenarios.Target{}, nil, usageError{errors.New("--endpoint needs --control: a scenario injects faults through the control API")}
		}
		control, err := f.controlFlags.client()
		if err != nil {
			return scenarios.Target{}, nil, err
		}
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return scenarios.Target{}, nil, fmt.Errorf("AWS environment: %w", err)
		}
		region := f.region
		if region == "" {
			region = awsCfg.Region
		}
		if region == "" {
			region = "us-east-1"
		}
		return scenarios.Target{Endpoint: f.endpoint, Region: region, Credentials: awsCfg.Credentials, Control: control}, func() {}, nil
	}
	if f.controlFlags.url != "" {
		return scenarios.Target{}, nil, usageError{errors.New("--control goes with --endpoint")}
	}
	// The harness's own warnings (a key's material left in a disconnected
	// store's cluster, …) are the run's business: only errors show.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	// Days of a key's deletion window are short, so that the run can delete
	// the stores it made.
	h, err := harness.Start(ctx, harness.WithBackend(harness.Backend(f.backend)), harness.WithLogger(log),
		harness.WithKMSOptions(kms.WithDayLength(10*time.Millisecond)))
	closeHarness := func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = h.Close(closeCtx)
	}
	if err != nil {
		closeHarness()
		return scenarios.Target{}, nil, err
	}
	return scenarios.Target{Endpoint: h.KMSEndpoint(), Region: h.Region(), Control: h.ControlClient(),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")}, closeHarness, nil
}

// scenarioError makes a bad scenario a usage error (exit status 2).
func scenarioError(err error) error {
	if errors.Is(err, scenarios.ErrBadScenario) {
		return usageError{err}
	}
	return err
}

func newChaosCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check DIR",
		Short: "Check the history of a run again (DIR holds its history.json) and rewrite its report",
		Args:  exactArgs(1, "DIR: the directory of a run (its history.json)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := scenarios.ReadHistory(args[0])
			if err != nil {
				return usageError{err}
			}
			verdicts := scenarios.Check(h)
			dir := args[0]
			if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
				dir = filepath.Dir(dir)
			}
			if err := scenarios.WriteReport(dir, h, verdicts); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			printVerdicts(out, verdicts)
			status := "PASS"
			if !scenarios.Passed(verdicts) {
				status = "FAIL"
			}
			fmt.Fprintf(out, "%s %s (seed %d): %d operations\nreport: %s\n", status, h.Scenario.Name, h.Seed, len(h.Operations),
				filepath.Join(dir, scenarios.ReportFile))
			if !scenarios.Passed(verdicts) {
				return errViolation
			}
			return nil
		},
	}
}

// maxPrintedViolations bounds the violations printed per check.
const maxPrintedViolations = 10

// printVerdicts prints a line per check, then the violations.
func printVerdicts(w io.Writer, verdicts []scenarios.Verdict) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, v := range verdicts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Check, strings.ToUpper(v.Status), v.Summary)
	}
	_ = tw.Flush()
	for _, v := range verdicts {
		for i, vi := range v.Violations {
			if i == maxPrintedViolations {
				fmt.Fprintf(w, "  … and %d more %s violations (see the report)\n", len(v.Violations)-i, v.Check)
				break
			}
			fmt.Fprintf(w, "✗ %s: %s\n", vi.Check, vi.Message)
			if len(vi.Faults) > 0 {
				fmt.Fprintf(w, "    faults in place: %s\n", strings.Join(vi.Faults, "; "))
			}
		}
	}
}

// progressPrinter shows a run's progress: on a terminal a status line
// rewritten in place, otherwise plain lines (events as they come, progress
// every five seconds).
type progressPrinter struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
	shown    bool
	lastLine time.Time
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressPrinter) clear() {
	if p.terminal && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

func (p *progressPrinter) event(e scenarios.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "%8.2fs  %s\n", e.At.Seconds(), e.Text)
}

func (p *progressPrinter) progress(pr scenarios.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	faults := "none"
	if len(pr.Faults) > 0 {
		faults = strings.Join(pr.Faults, ", ")
	}
	line := fmt.Sprintf("[%5.1fs / %s] %5.0f ops/s · %d operations · faults in place: %s",
		pr.Elapsed.Seconds(), pr.Total, pr.OpsPerSecond, pr.Operations, faults)
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.shown = true
		return
	}
	if time.Since(p.lastLine) >= 5*time.Second {
		p.lastLine = time.Now()
		fmt.Fprintln(p.w, "          "+line)
	}
}

func (p *progressPrinter) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}
