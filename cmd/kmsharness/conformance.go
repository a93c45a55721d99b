package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
	"github.com/spf13/cobra"

	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/suites"
)

// clusterFlags collects repeated --cluster ID,TRUST_ANCHOR_FILE,PASSWORD.
type clusterFlags []suites.Cluster

func (c *clusterFlags) String() string { return "" }

func (c *clusterFlags) Set(v string) error {
	parts := strings.SplitN(v, ",", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return errors.New("want ID,TRUST_ANCHOR_FILE,PASSWORD")
	}
	anchor, err := os.ReadFile(parts[1])
	if err != nil {
		return fmt.Errorf("trust anchor: %w", err)
	}
	*c = append(*c, suites.Cluster{ID: parts[0], TrustAnchorPEM: string(anchor), KMSUserPassword: parts[2]})
	return nil
}

// listFlag collects a repeatable flag's values.
type listFlag []string

func (l *listFlag) String() string { return "" }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// failures records whether any spec failed (Ginkgo's testing.T stand-in).
type failures struct{ failed bool }

func (f *failures) Fail() { f.failed = true }

const conformanceUsage = `Usage: kmsharness conformance --endpoint URL [flags]

Runs the conformance kit (the suites of package suites, the same code as
make test) against any KMS endpoint with the AWS SDK for Go v2, and reports
one verdict per rule: pass, fail, skip or inconclusive. Credentials and
region come from the usual AWS environment. Clusters come from --cluster
(repeatable) or, with --control, from a control API (kmsharness up prints
one), which also enables the fault specs; a rule whose specs need what the
target lacks is skipped with the reason.

Before any spec, a preflight checks that credentials are present, that the
endpoint answers and accepts them, that the control API answers, and that
the clusters exist and are ACTIVE (given --cloudhsm-endpoint).

Exit status: 0 when no rule failed, 1 when one did, 2 on a bad command line
or a failed preflight.
`

// conformanceRun is a parsed command line.
type conformanceRun struct {
	fs                     *flag.FlagSet
	own                    []string // our flags, in the order --help shows them
	endpoint, region       string
	cloudHSM               string
	controlURL, token      string
	clusters               clusterFlags
	quota                  int
	connectTimeout         time.Duration
	reports                listFlag
	reportDir, junit       string
	rules                  listFlag
	labelFilter            string
	list, help, helpGinkgo bool
	noColor                bool
}

// reportDirFiles are the reports --report-dir writes.
var reportDirFiles = []string{"report.html", "report.md", "results.json", "junit.xml"}

func newConformanceRun() *conformanceRun {
	r := &conformanceRun{fs: flag.NewFlagSet("conformance", flag.ContinueOnError)}
	r.fs.SetOutput(io.Discard)
	r.fs.Usage = func() {}
	r.str(&r.endpoint, "endpoint", "URL", os.Getenv("KMS_ENDPOINT"), "the KMS endpoint to check (default $KMS_ENDPOINT)")
	r.str(&r.cloudHSM, "cloudhsm-endpoint", "URL", os.Getenv("CLOUDHSM_ENDPOINT"), "a CloudHSMv2 endpoint, to check first that the clusters exist and are ACTIVE (default $CLOUDHSM_ENDPOINT)")
	r.str(&r.region, "region", "REGION", "", "AWS region (default: the AWS environment's, else us-east-1)")
	r.variable(&r.clusters, "cluster", "ID,TRUST_ANCHOR_FILE,PASSWORD", "a CloudHSM cluster the specs may use (repeatable)")
	r.str(&r.controlURL, "control", "URL", "", "the target's control API ($KMSHARNESS_CONTROL of kmsharness up): clusters, faults")
	r.str(&r.token, "control-token", "TOKEN", "", "the control API's token (default $"+control.EnvToken+")")
	r.fs.IntVar(&r.quota, "store-quota", 10, "`N`: the target's custom key store quota (AWS: 10)")
	r.own = append(r.own, "store-quota")
	r.fs.DurationVar(&r.connectTimeout, "connect-timeout", 20*time.Minute,
		"`DURATION`: how long a connect or disconnect may take before its spec fails (AWS documents up to 20 minutes for a connect)")
	r.own = append(r.own, "connect-timeout")
	r.variable(&r.reports, "report", "FILE", "write a report; the name says which: .html, .md, .json (results) or .xml (JUnit); repeatable")
	r.str(&r.reportDir, "report-dir", "DIR", "", "write every report to DIR ("+strings.Join(reportDirFiles, ", ")+")")
	r.str(&r.junit, "junit-report", "FILE", "", "write the JUnit report (one testcase per rule) to FILE")
	r.variable(&r.rules, "rule", "ID", "check only this rule (repeatable; --list shows them)")
	r.str(&r.labelFilter, "label-filter", "EXPR", "", "check only the specs whose labels match, e.g. 'api:ListKeys || kind:fault'")
	r.boolean(&r.noColor, "no-color", "no colour (the default when not on a terminal, or with NO_COLOR set)")
	r.boolean(&r.list, "list", "list the rules (ID, operation, text) and exit")
	r.boolean(&r.helpGinkgo, "help-ginkgo", "show Ginkgo's flags (--ginkgo.focus, --ginkgo.v, …), which work here too")
	r.boolean(&r.help, "help", "show this help")
	r.fs.BoolVar(&r.help, "h", false, "show this help")
	// Ginkgo binds its flags to flag.CommandLine: ours take them too, the
	// same values, so that Ginkgo sees them set.
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "ginkgo.") {
			r.fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	return r
}

func (r *conformanceRun) str(p *string, name, arg, value, usage string) {
	r.fs.StringVar(p, name, value, "`"+arg+"`: "+usage)
	r.own = append(r.own, name)
}

func (r *conformanceRun) variable(v flag.Value, name, arg, usage string) {
	r.fs.Var(v, name, "`"+arg+"`: "+usage)
	r.own = append(r.own, name)
}

func (r *conformanceRun) boolean(p *bool, name, usage string) {
	r.fs.BoolVar(p, name, false, usage)
	r.own = append(r.own, name)
}

// usage writes --help: the command, then our flags only.
func (r *conformanceRun) usage(w io.Writer) {
	fmt.Fprint(w, conformanceUsage, "\nFlags:\n")
	for _, name := range r.own {
		f := r.fs.Lookup(name)
		arg, usage := flag.UnquoteUsage(f)
		usage = strings.TrimPrefix(usage, arg+": ")
		if arg == "" || arg == "value" {
			fmt.Fprintf(w, "  --%s\n      %s\n", name, usage)
		} else {
			fmt.Fprintf(w, "  --%s %s\n      %s\n", name, arg, usage)
		}
	}
	fmt.Fprint(w, `
Examples:
  kmsharness conformance --endpoint "$KMS_ENDPOINT" --control "$KMSHARNESS_CONTROL" --report-dir out
  kmsharness conformance --endpoint https://kms.eu-west-1.amazonaws.com \
      --cluster cluster-abc,customerCA.crt,"$KMSUSER_PASSWORD" --report report.html
  kmsharness conformance --list
`)
}

// ansi matches the colour codes of Ginkgo's help.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// ginkgoUsage writes Ginkgo's help for its flags, which Ginkgo attached
// to flag.CommandLine with its own usage function.
func ginkgoUsage(w io.Writer, color bool) error {
	var b strings.Builder
	flag.CommandLine.SetOutput(&b)
	flag.CommandLine.Usage()
	usage := b.String()
	if !color {
		usage = ansi.ReplaceAllString(usage, "")
	}
	_, err := fmt.Fprintf(w, "Ginkgo's flags, which kmsharness conformance passes on to Ginkgo:\n\n%s", usage)
	return err
}

// given says whether the command line set the flag.
func (r *conformanceRun) given(name string) bool {
	set := false
	r.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parse reads the command line; a mistake is a usageError of one line.
func (r *conformanceRun) parse(args []string) error {
	if err := r.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			r.help = true
			return nil
		}
		return usageError{fmt.Errorf("%v (kmsharness conformance --help lists the flags)", err)}
	}
	if r.fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (kmsharness conformance --help lists the flags)", r.fs.Arg(0))}
	}
	if r.help || r.helpGinkgo || r.list {
		return nil
	}
	if r.endpoint == "" {
		return usageError{errors.New("no endpoint: give --endpoint URL or set KMS_ENDPOINT")}
	}
	if u, err := url.Parse(r.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("--endpoint %q: want an http:// or https:// URL", r.endpoint)}
	}
	for _, path := range r.reports {
		if _, ok := suites.ReportFormats[strings.ToLower(filepath.Ext(path))]; !ok {
			return usageError{fmt.Errorf("--report %s: the name must end in .html, .md, .json or .xml", path)}
		}
	}
	if r.junit != "" && strings.ToLower(filepath.Ext(r.junit)) != ".xml" {
		return usageError{fmt.Errorf("--junit-report %s: the name must end in .xml", r.junit)}
	}
	for _, id := range r.rules {
		if _, ok := suites.RuleByID(id); !ok {
			return usageError{fmt.Errorf("--rule %s: no such rule (kmsharness conformance --list shows them)", id)}
		}
	}
	if r.quota < 1 {
		return usageError{errors.New("--store-quota must be at least 1")}
	}
	if r.connectTimeout <= 0 {
		return usageError{errors.New("--connect-timeout must be positive")}
	}
	return nil
}

// outputs are the report files the run writes.
func (r *conformanceRun) outputs() []string {
	out := append([]string(nil), r.reports...)
	if r.junit != "" {
		out = append(out, r.junit)
	}
	if r.reportDir != "" {
		for _, name := range reportDirFiles {
			out = append(out, filepath.Join(r.reportDir, name))
		}
	}
	return out
}

// ginkgoFilter returns the label filter of --label-filter, --rule and
// --ginkgo.label-filter together.
func (r *conformanceRun) ginkgoFilter() string {
	var parts []string
	if f := r.fs.Lookup("ginkgo.label-filter"); f != nil && f.Value.String() != "" {
		parts = append(parts, "("+f.Value.String()+")")
	}
	if r.labelFilter != "" {
		parts = append(parts, "("+r.labelFilter+")")
	}
	if len(r.rules) > 0 {
		var ids []string
		for _, id := range r.rules {
			ids = append(ids, suites.RuleLabel(id))
		}
		parts = append(parts, "("+strings.Join(ids, " || ")+")")
	}
	return strings.Join(parts, " && ")
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newConformanceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conformance --endpoint URL [flags]",
		Short: "Check any KMS endpoint against the conformance kit's rules",
		// Our own flag set parses the command line: it knows Ginkgo's flags.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConformance(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	// kmsharness help conformance shows what --help shows.
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) { newConformanceRun().usage(c.OutOrStdout()) })
	return cmd
}

func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	run := newConformanceRun()
	if err := run.parse(args); err != nil {
		return err
	}
	color := isTerminal(stdout) && !run.noColor && os.Getenv("NO_COLOR") == ""
	switch {
	case run.help:
		run.usage(stdout)
		return nil
	case run.helpGinkgo:
		return ginkgoUsage(stdout, color)
	case run.list:
		return listRules(stdout)
	}
	for _, path := range run.outputs() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return usageError{fmt.Errorf("report %s: %w", path, err)}
		}
	}
	if !color {
		if err := run.fs.Set("ginkgo.no-color", "true"); err != nil {
			return err
		}
	}
	if filter := run.ginkgoFilter(); filter != "" {
		if err := run.fs.Set("ginkgo.label-filter", filter); err != nil {
			return usageError{err}
		}
	}

	awsCfg, err := suites.LoadAWSConfig(ctx)
	if err != nil {
		return usageError{fmt.Errorf("AWS environment: %w", err)}
	}
	region := run.region
	if region == "" {
		region = awsCfg.Region
	}
	if region == "" {
		region = "us-east-1"
	}
	cfg := suites.Config{Endpoint: run.endpoint, CloudHSMEndpoint: run.cloudHSM, Region: region, Credentials: awsCfg.Credentials, Clusters: run.clusters, StoreQuota: run.quota,
		ConnectTimeout: run.connectTimeout}
	if run.controlURL != "" {
		cf := controlFlags{url: run.controlURL, token: run.token}
		if cfg.Control, err = cf.client(); err != nil {
			return err
		}
	}

	if err := suites.Preflight(ctx, cfg); err != nil {
		return usageError{err}
	}

	suites.Register(&cfg)
	var report *suites.Report
	var writeErrs []error
	ginkgo.ReportAfterSuite("conformance reports", func(r types.Report) {
		// Register's clean-up ran before this node: the budget is final.
		rep := suites.NewReport(r, suites.RunInfo{Endpoint: run.endpoint, Budget: suites.Budget().String()})
		report = &rep
		for _, path := range run.outputs() {
			if err := rep.WriteFile(path); err != nil {
				writeErrs = append(writeErrs, err)
			}
		}
	})
	gomega.RegisterFailHandler(ginkgo.Fail)
	var f failures
	suiteConfig, reporterConfig := ginkgo.GinkgoConfiguration()
	if !run.given("ginkgo.timeout") {
		// Ginkgo's default of an hour is too short for a real account,
		// where each of the run's connects may take 20 minutes.
		suiteConfig.Timeout = 24 * time.Hour
	}
	passed := ginkgo.RunSpecs(&f, "KMS custom key store conformance: "+run.endpoint, suiteConfig, reporterConfig) && !f.failed
	if report != nil {
		printSummary(stdout, *report, run.outputs())
	}
	switch {
	case len(writeErrs) > 0:
		return errors.Join(writeErrs...)
	case !passed || report == nil || !report.Passed():
		return errConformance
	}
	return nil
}

// errConformance means a rule failed (exit status 1, after the summary).
var errConformance = errors.New("the target does not conform (see the failures above)")

// listRules prints the kit's rules: ID, operation, text.
func listRules(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tOPERATION\tRULE\n")
	for _, r := range suites.Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Operation, r.Text)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d rules; kit %s, KMS API model %s\n", len(suites.Rules()), suites.KitVersion, suites.ModelVersion)
	return err
}

// summaryLines is how many rules the summary names at most per verdict.
const summaryLines = 12

// printSummary ends the run with one screen: the verdict and counts, the
// failed and inconclusive rules with their reasons, the skips by reason,
// the budget, the duration and the reports written.
func printSummary(w io.Writer, rep suites.Report, outputs []string) {
	verdict := "PASS"
	if !rep.Passed() {
		verdict = "FAIL"
	}
	c := rep.Counts()
	fmt.Fprintf(w, "\n%s  %d rules: %s — conformance kit %s (%s) against %s, in %s, seed %d\n",
		verdict, c.Total(), c, rep.KitVersion, rep.ModelVersion, rep.Endpoint, rep.Duration.Round(time.Millisecond), rep.Seed)
	for _, f := range rep.SuiteFailures {
		fmt.Fprintf(w, "  outside the rules: %s\n", f)
	}
	var failed, inconclusive []suites.Result
	skips := map[string]int{}
	var skipReasons []string
	for _, res := range rep.Results {
		switch res.Status {
		case suites.StatusFail:
			failed = append(failed, res)
		case suites.StatusInconclusive:
			inconclusive = append(inconclusive, res)
		case suites.StatusSkip:
			if skips[res.Reason] == 0 {
				skipReasons = append(skipReasons, res.Reason)
			}
			skips[res.Reason]++
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, group := range []struct {
		name    string
		results []suites.Result
	}{{"failed", failed}, {"inconclusive", inconclusive}} {
		if len(group.results) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s:\n", group.name)
		for i, res := range group.results {
			if i == summaryLines {
				fmt.Fprintf(tw, "  … and %d more (see the reports)\n", len(group.results)-i)
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", res.ID, res.Operation, res.Reason)
		}
	}
	_ = tw.Flush()
	if len(skipReasons) > 0 {
		fmt.Fprintf(w, "skipped:\n")
		for i, reason := range skipReasons {
			if i == summaryLines {
				fmt.Fprintf(w, "  … and %d more reasons (see the reports)\n", len(skipReasons)-i)
				break
			}
			fmt.Fprintf(w, "  %3d  %s\n", skips[reason], reason)
		}
	}
	if rep.Budget != "" {
		fmt.Fprintf(w, "budget: %s\n", rep.Budget)
	}
	if len(outputs) > 0 {
		fmt.Fprintf(w, "reports: %s\n", strings.Join(outputs, ", "))
	}
}
