package scenarios_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmssdk "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/harness/containerbackend"
	"github.com/kmsharness/kmsharness/internal/brokenkms"
	"github.com/kmsharness/kmsharness/internal/testenv"
	"github.com/kmsharness/kmsharness/kms"
	"github.com/kmsharness/kmsharness/scenarios"
)

// builtinDuration is how long each built-in scenario runs here:
// KMSHARNESS_CHAOS_DURATION (make chaos sets it), else 6 s.
func builtinDuration() time.Duration {
	if v := os.Getenv("KMSHARNESS_CHAOS_DURATION"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
		panic("KMSHARNESS_CHAOS_DURATION: want a positive duration such as 10s, not " + v)
	}
	return 6 * time.Second
}

// builtinTimeout bounds a built-in's spec: its run, its set-up and checks.
func builtinTimeout() time.Duration { return 5*time.Minute + 3*builtinDuration() }

// builtinRuns are the options of a built-in's run: its duration, and the
// directory where the report of a run that fails stays
// (KMSHARNESS_CHAOS_REPORTS/dir; make chaos sets it), else a temporary one.
func builtinRuns(dir string) []scenarios.Option {
	opts := []scenarios.Option{scenarios.WithDuration(builtinDuration())}
	if reports := os.Getenv("KMSHARNESS_CHAOS_REPORTS"); reports != "" {
		opts = append(opts, scenarios.WithReportDir(filepath.Join(reports, dir)))
	}
	return opts
}

// explain describes a result's violations for a failure message.
func explain(res *scenarios.Result) string {
	if res == nil {
		return "no result"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "report: %s\nreplay: %s\n", res.Dir, res.Replay)
	for _, v := range res.Violations() {
		fmt.Fprintf(&b, "✗ %s: %s\n", v.Check, v.Message)
	}
	return b.String()
}

// statuses maps each check to its verdict.
func statuses(res *scenarios.Result) map[string]string {
	out := map[string]string{}
	for _, v := range res.Verdicts {
		out[v.Check] = v.Status
	}
	return out
}

// The built-in scenarios are make chaos's (label chaos:builtin), which runs
// them with the race detector as a CI step of their own; make test leaves
// them out.
var _ = Describe("The built-in scenarios", Label("kind:chaos", "chaos:builtin"), func() {
	var entries []TableEntry
	for _, s := range scenarios.Builtins() {
		entries = append(entries, Entry(s.Name, SpecTimeout(builtinTimeout()), s.Name))
	}
	DescribeTable("pass against the harness on the process backend, with short durations",
		func(ctx SpecContext, name string) {
			s, err := scenarios.Load(name)
			Expect(err).NotTo(HaveOccurred())
			opts := append(builtinRuns(name),
				scenarios.WithEvents(func(e scenarios.Event) { fmt.Fprintf(GinkgoWriter, "%8.2fs %s\n", e.At.Seconds(), e.Text) }))
			res, err := scenarios.Run(ctx, harnessTarget(h, ""), s, opts...)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Passed()).To(BeTrue(), explain(res))
			Expect(res.Dir).To(BeEmpty(), "a run that passed removes its report")
			Expect(len(res.History.Operations)).To(BeNumerically(">", 50))
		}, entries)
})

var _ = Describe("The built-in scenarios on the container backend", Label("kind:chaos", "chaos:builtin", "needs:docker"), Ordered, func() {
	var ch *harness.Harness
	BeforeAll(func(ctx SpecContext) {
		if err := containerbackend.Available(ctx); err != nil {
			Skip("needs a Docker engine: " + err.Error())
		}
		build := exec.CommandContext(ctx, "scripts/build-image.sh", containerbackend.DefaultImage)
		build.Dir = testenv.ModuleRoot()
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "make image: %s", out)
		ch, err = harness.Start(ctx, harness.WithBackend(harness.BackendContainer), harness.WithLogger(testenv.Logger(GinkgoWriter)),
			harness.WithKMSOptions(kms.WithDayLength(10*time.Millisecond)))
		DeferCleanup(func() { _ = ch.Close(context.Background()) })
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(5*time.Minute))

	DescribeTable("pass where HSMs are containers",
		func(ctx SpecContext, name string) {
			s, err := scenarios.Load(name)
			Expect(err).NotTo(HaveOccurred())
			res, err := scenarios.Run(ctx, harnessTarget(ch, ""), s, builtinRuns("container-"+name)...)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Passed()).To(BeTrue(), explain(res))
		},
		Entry("partition-and-heal", SpecTimeout(builtinTimeout()), "partition-and-heal"),
		Entry("zone-loss", SpecTimeout(builtinTimeout()), "zone-loss"))
})

// variantScenarios expose each broken front end.
var variantScenarios = map[string]string{
	"connected-early": `name: connected-early
duration: 8s
keys: 1
observe-every: 20ms
workload:
  - op: encrypt
    rate: 10/s
  - op: reconnect
    store: 0
    from: 2s
    to: 5s
steps:
  - at: 1s
    inject: user-locked-out
    cluster: 0
  - at: 6s
    heal: user-locked-out
    cluster: 0
  - at: 6500ms
    repair: 0
`,
	"loses-keys": `name: loses-keys
duration: 4s
keys: 1
workload:
  - op: create-key
    rate: 4/s
  - op: encrypt
    rate: 10/s
`,
	"wrong-state-exception": `name: wrong-state-exception
duration: 4s
keys: 1
workload:
  - op: connect
    rate: 10/s
  - op: disconnect
    rate: 5/s
  - op: create-key
    rate: 5/s
`,
}

var _ = Describe("A deliberately broken front end", Label("kind:chaos"), func() {
	var entries []TableEntry
	for _, v := range brokenkms.ChaosVariants() {
		entries = append(entries, Entry(v.Name, SpecTimeout(3*time.Minute), v.Name))
	}
	DescribeTable("is caught by the right check, and the report shows the violation",
		func(ctx SpecContext, name string) {
			var variant brokenkms.ChaosVariant
			for _, v := range brokenkms.ChaosVariants() {
				if v.Name == name {
					variant = v
				}
			}
			broken := httptest.NewServer(variant.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.KMS().Handler().ServeHTTP(w, r)
			})))
			DeferCleanup(broken.Close)
			s, err := scenarios.Parse([]byte(variantScenarios[name]), name+".yaml")
			Expect(err).NotTo(HaveOccurred())
			dir := GinkgoT().TempDir()
			res, err := scenarios.Run(ctx, harnessTarget(h, broken.URL), s, scenarios.WithReportDir(dir), scenarios.WithSeed(1))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Passed()).To(BeFalse())
			Expect(statuses(res)).To(HaveKeyWithValue(variant.Check, scenarios.StatusFail), explain(res))
			Expect(res.Dir).To(Equal(dir), "a failed run keeps its report")

			dom, err := testenv.RenderHTML(ctx, filepath.Join(dir, scenarios.ReportFile))
			Expect(err).NotTo(HaveOccurred())
			Expect(dom).To(ContainSubstring(`id="violation-0"`))
			Expect(dom).To(MatchRegexp(`<svg id="timeline"[^>]*data-rendered="true"`), "the timeline's script ran")
			Expect(dom).To(MatchRegexp(`<tr class="verdict fail" data-check="%s">`, regexp.QuoteMeta(variant.Check)))
			Expect(dom).To(ContainSubstring(`class="involved"`), "the slice of history marks the operations involved")

			again := scenarios.Check(res.History)
			Expect(scenarios.Passed(again)).To(BeFalse(), "checking the history again finds it too")
			read, err := scenarios.ReadHistory(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(scenarios.Passed(scenarios.Check(read))).To(BeFalse(), "and so does checking history.json")
		}, entries)
})

var _ = Describe("A run", Label("kind:chaos"), func() {
	It("replays the same schedule and the same client choices for the same seed", func(ctx SpecContext) {
		s, err := scenarios.Load("flapping-network")
		Expect(err).NotTo(HaveOccurred())
		type executed struct{ Call, Fault, Step, HSM string }
		run := func() ([]executed, []string) {
			res, err := scenarios.Run(ctx, harnessTarget(h, ""), s, scenarios.WithSeed(20260512), scenarios.WithDuration(4*time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Passed()).To(BeTrue(), explain(res))
			hsmIndex := map[string]string{}
			for _, c := range res.History.Clusters {
				for i, hsm := range c.HSMs {
					hsmIndex[hsm.HSMID] = fmt.Sprintf("%d/%d", c.Index, i)
				}
			}
			var faults []executed
			var plaintexts []string
			for _, op := range res.History.Operations {
				switch {
				case op.Call == "InjectFault" || op.Call == "HealFault":
					faults = append(faults, executed{op.Call, op.Fault, op.Step, hsmIndex[op.HSM]})
				case op.Process == "client-0.0" && op.Call == "Encrypt":
					plaintexts = append(plaintexts, op.Plaintext)
				}
			}
			return faults, plaintexts
		}
		faults1, plain1 := run()
		faults2, plain2 := run()
		Expect(faults1).To(HaveLen(len(scenarios.NewPlan(s, 20260512, 4*time.Second).Actions)))
		Expect(faults2).To(Equal(faults1))
		n := min(len(plain1), len(plain2))
		Expect(n).To(BeNumerically(">", 10))
		Expect(plain2[:n]).To(Equal(plain1[:n]), "the same plaintexts, drawn from the seed")
	}, SpecTimeout(3*time.Minute))

	It("writes a report that a real browser draws: the timeline with its lanes and fault windows, the charts, the verdicts", func(ctx SpecContext) {
		s, err := scenarios.Load("partition-and-heal")
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		res, err := scenarios.Run(ctx, harnessTarget(h, ""), s, scenarios.WithDuration(4*time.Second), scenarios.WithReportDir(dir), scenarios.WithKeep(true))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Passed()).To(BeTrue(), explain(res))
		Expect(filepath.Join(dir, scenarios.HistoryFile)).To(BeARegularFile())
		dom, err := testenv.RenderHTML(ctx, filepath.Join(dir, scenarios.ReportFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(dom).To(ContainSubstring(`<title>PASS · chaos scenario partition-and-heal`))
		Expect(dom).To(MatchRegexp(`<svg id="timeline"[^>]*data-rendered="true"`), "the timeline's script ran")
		lanes := regexp.MustCompile(`<g class="lane (store|process)"`).FindAllString(dom, -1)
		Expect(len(lanes)).To(BeNumerically(">=", 2+4+1), "a lane per store and per client")
		Expect(dom).To(ContainSubstring(`<g class="lane store" data-name="store 0`))
		Expect(dom).To(ContainSubstring(`class="fault-window"`))
		Expect(dom).To(ContainSubstring(`class="state"`))
		Expect(dom).To(MatchRegexp(`<svg id="throughput"[^>]*>.*class="bar"`))
		Expect(dom).To(MatchRegexp(`<svg id="latency"[^>]*>.*class="line"`))
		for _, check := range scenarios.Checks {
			Expect(dom).To(MatchRegexp(`<tr class="verdict pass" data-check="%s">`, check))
		}
		Expect(dom).To(ContainSubstring(res.Replay))
		Expect(os.ReadDir(dir)).To(HaveLen(2), "history.json and report.html; no visualisation for searches that passed")
	}, SpecTimeout(3*time.Minute))
})

var _ = Describe("A user's own code as a client", Label("kind:chaos"), func() {
	const scenario = `name: user-code
duration: 3s
keys: 1
workload:
  - op: describe
    rate: 10/s
steps:
  - at: 1s
    inject: node-hung
    cluster: 0
    hsm: 0
  - at: 2s
    heal: node-hung
    cluster: 0
    hsm: 0
`
	It("has its calls recorded, filed under their store and checked", func(ctx SpecContext) {
		s, err := scenarios.Parse([]byte(scenario), "user-code.yaml")
		Expect(err).NotTo(HaveOccurred())
		res, err := scenarios.Run(ctx, harnessTarget(h, ""), s, scenarios.WithUserCode(func(ctx context.Context, c scenarios.UserClient) {
			key := c.Stores[0].Keys[0]
			ec := map[string]string{"app": "mine"}
			for ctx.Err() == nil {
				out, err := c.KMS.Encrypt(ctx, &kmssdk.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("mine"), EncryptionContext: ec})
				if err == nil {
					_, _ = c.KMS.Decrypt(ctx, &kmssdk.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
				}
				time.Sleep(20 * time.Millisecond)
			}
		}))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Passed()).To(BeTrue(), explain(res))
		mine := 0
		for _, op := range res.History.Operations {
			if op.Workload == "user code" && op.Call == "Decrypt" && op.Result == "ok" {
				mine++
				Expect(op.Process).To(HavePrefix("user-"))
				Expect(op.Store).To(Equal(res.History.Stores[0].ID), "filed under the key's store")
			}
		}
		Expect(mine).To(BeNumerically(">", 10))
	}, SpecTimeout(3*time.Minute))

	It("fails the run when the target answers the user's code wrongly", func(ctx SpecContext) {
		var variant brokenkms.ChaosVariant
		for _, v := range brokenkms.ChaosVariants() {
			if v.Check == scenarios.CheckErrors {
				variant = v
			}
		}
		broken := httptest.NewServer(variant.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.KMS().Handler().ServeHTTP(w, r)
		})))
		DeferCleanup(broken.Close)
		s, err := scenarios.Parse([]byte(scenario), "user-code.yaml")
		Expect(err).NotTo(HaveOccurred())
		res, err := scenarios.Run(ctx, harnessTarget(h, broken.URL), s, scenarios.WithReportDir(GinkgoT().TempDir()),
			scenarios.WithUserCode(func(ctx context.Context, c scenarios.UserClient) {
				id := aws.String(c.Stores[0].ID)
				_, _ = c.KMS.DisconnectCustomKeyStore(ctx, &kmssdk.DisconnectCustomKeyStoreInput{CustomKeyStoreId: id})
				time.Sleep(200 * time.Millisecond)
				_, _ = c.KMS.DisconnectCustomKeyStore(ctx, &kmssdk.DisconnectCustomKeyStoreInput{CustomKeyStoreId: id})
			}))
		Expect(err).NotTo(HaveOccurred())
		Expect(statuses(res)).To(HaveKeyWithValue(scenarios.CheckErrors, scenarios.StatusFail), explain(res))
		var onUser bool
		for _, v := range res.Violations() {
			for _, id := range v.Ops {
				for _, op := range res.History.Operations {
					if op.ID == id && op.Workload == "user code" {
						onUser = true
					}
				}
			}
		}
		Expect(onUser).To(BeTrue(), "a violation names the user's call")
	}, SpecTimeout(3*time.Minute))
})
