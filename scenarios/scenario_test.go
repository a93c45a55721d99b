package scenarios_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/scenarios"
)

var _ = Describe("Scenario files", func() {
	It("reads the format of the issue, every field where it belongs", func() {
		s, err := scenarios.Load("testdata/issue-example.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Name).To(Equal("lockout-during-traffic"))
		Expect(*s.Seed).To(Equal(uint64(42)))
		Expect(s.Duration).To(Equal(30 * time.Second))
		Expect(s.Clusters).To(Equal(2))
		Expect(s.Keys).To(Equal(4))
		Expect(s.HSMs).To(Equal(scenarios.DefaultHSMs))
		Expect(s.Workload).To(HaveLen(1))
		Expect(s.Workload[0].Op).To(Equal("encrypt"))
		Expect(s.Workload[0].Clients).To(Equal(4))
		Expect(s.Workload[0].Rate).To(Equal(50.0))
		Expect(s.Steps).To(HaveLen(5))
		Expect(*s.Steps[1].HSM).To(Equal(0))
		Expect(*s.Steps[3].Repair).To(Equal(0))
		Expect(s.Steps[4].Pick).To(ConsistOf("node-killed", "node-hung", "network-latency", "network-reset"))
		Expect(s.Expect.AllConnectedWithin).To(Equal(30 * time.Second))
	})

	It("loads every built-in by name, each documented and at most a minute long", func() {
		builtins := scenarios.Builtins()
		Expect(len(builtins)).To(BeNumerically(">=", 15))
		for _, b := range builtins {
			Expect(b.Description).NotTo(BeEmpty(), b.Name)
			Expect(b.Duration).To(BeNumerically("<=", time.Minute), b.Name)
			s, err := scenarios.Load(b.Name)
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Text).To(Equal(b.Text))
		}
	})

	It("says an unknown name is neither a built-in nor a file", func() {
		_, err := scenarios.Load("no-such-scenario")
		Expect(errors.Is(err, scenarios.ErrBadScenario)).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("kmsharness chaos list"))
	})

	DescribeTable("names the line and the field of each mistake",
		func(file string, want ...string) {
			_, err := scenarios.Parse([]byte(file), "bad.yaml")
			Expect(err).To(HaveOccurred())
			Expect(errors.Is(err, scenarios.ErrBadScenario)).To(BeTrue())
			for _, w := range want {
				Expect(err.Error()).To(ContainSubstring(w))
			}
		},
		Entry("an unknown field", "name: x\nduration: 10s\nclsuters: 2\n", "bad.yaml:3: clsuters: unknown field"),
		Entry("a missing name", "duration: 10s\n", "bad.yaml:1: name: required"),
		Entry("a missing duration", "name: x\n", "duration: required"),
		Entry("a duration that is not one", "name: x\nduration: 30\n", "bad.yaml:2: duration: want a duration such as 500ms"),
		Entry("a bad name", "name: Not_Good\nduration: 10s\n", "bad.yaml:1: name:"),
		Entry("a rate without a unit", "name: x\nduration: 10s\nworkload:\n  - op: encrypt\n    rate: 50\n", "bad.yaml:5: workload[0].rate: want a rate"),
		Entry("an unknown operation", "name: x\nduration: 10s\nworkload:\n  - op: encrpyt\n", "bad.yaml:4: workload[0].op: unknown operation \"encrpyt\""),
		Entry("a store out of range", "name: x\nduration: 10s\nworkload:\n  - op: describe\n    store: 3\n", "bad.yaml:5: workload[0].store: 3 is not a store"),
		Entry("a cluster out of range", "name: x\nduration: 10s\nsteps:\n  - at: 1s\n    inject: user-locked-out\n    cluster: 2\n",
			"bad.yaml:6: steps[0].cluster: 2 is not a cluster"),
		Entry("a heal of a fault not in place", "name: x\nduration: 10s\nsteps:\n  - at: 1s\n    heal: user-locked-out\n    cluster: 0\n",
			"bad.yaml:5: steps[0].heal: user-locked-out on cluster 0 is not in place"),
		Entry("a fault injected twice", "name: x\nduration: 10s\nsteps:\n  - at: 1s\n    inject: node-hung\n    cluster: 0\n    hsm: 1\n  - at: 2s\n    inject: node-hung\n    cluster: 0\n    hsm: 1\n",
			"bad.yaml:9: steps[1].inject: node-hung on cluster 0 HSM 1 is already in place (injected by steps[0])"),
		Entry("a step after the end", "name: x\nduration: 10s\nsteps:\n  - at: 12s\n    repair: 0\n", "bad.yaml:4: steps[0].at: 12s is not before the end"),
		Entry("a step that does two things", "name: x\nduration: 10s\nsteps:\n  - at: 1s\n    inject: node-hung\n    repair: 0\n    cluster: 0\n", "steps[0]: a step does one thing, not inject and repair"),
		Entry("both hsm and zone", "name: x\nduration: 10s\nhsms: 4\nsteps:\n  - at: 1s\n    inject: node-killed\n    cluster: 0\n    hsm: 1\n    zone: 0\n", "steps[0].zone: give hsm or zone, not both"),
		Entry("a nemesis holding as long as its period", "name: x\nduration: 10s\nsteps:\n  - from: 1s\n    every: 2s\n    hold: 2s\n    pick: [node-hung]\n", "bad.yaml:6: steps[0].hold: must be shorter than every"),
		Entry("a nemesis without every", "name: x\nduration: 10s\nsteps:\n  - from: 1s\n    pick: [node-hung]\n", "steps[0].every: required"),
		Entry("a spare operation without spare clusters", "name: x\nduration: 10s\nworkload:\n  - op: create-store-twice\n", "workload[0].spare: create-store-twice needs a spare cluster"),
		Entry("a key operation without keys", "name: x\nduration: 10s\nkeys: 0\nworkload:\n  - op: encrypt\n", "workload[0].op: encrypt uses the stores' keys, but keys is 0"),
		Entry("a state that is not one", "name: x\nduration: 10s\nexpect:\n  - observed:\n      state: BROKEN\n", "bad.yaml:5: expect[0].observed.state: \"BROKEN\" is not a connection state"),
		Entry("a code outside FAILED", "name: x\nduration: 10s\nexpect:\n  - observed:\n      state: CONNECTED\n      code: NETWORK_ERRORS\n", "expect[0].observed.code: only a FAILED store has an error code"),
		Entry("two expectations in one item", "name: x\nduration: 10s\nexpect:\n  - all-connected-within: 5s\n    at-least: {call: Encrypt}\n", "bad.yaml:4: expect[0]: one expectation per list item"),
		Entry("aliases", "name: x\nduration: &d 10s\nop-timeout: *d\n", "anchors and aliases"),
		Entry("two documents", "name: x\nduration: 10s\n---\nname: y\n", "bad.yaml:3: a scenario file holds one YAML document"),
		Entry("not YAML", "name: [x\n", "not YAML"),
		Entry("an empty file", "", "the file is empty"),
		Entry("a list at the top", "- name: x\n", "want a mapping"),
		Entry("a negative count", "name: x\nduration: 10s\nclusters: -1\n", "bad.yaml:3: clusters: must be from 1 to 8"),
		Entry("text for a number", "name: x\nduration: 10s\nkeys: many\n", "bad.yaml:3: keys: want a whole number"),
	)

	It("reports several mistakes at once", func() {
		_, err := scenarios.Parse([]byte("name: x\nduration: 10s\nclusters: 0\nkeys: 100\n"), "bad.yaml")
		var se *scenarios.ScenarioError
		Expect(errors.As(err, &se)).To(BeTrue())
		Expect(se.Errors).To(HaveLen(2))
		Expect(se.Errors[0].Line).To(Equal(3))
		Expect(se.Errors[1].Field).To(Equal("keys"))
	})

	It("documents every field and every workload operation in docs/scenarios.md", func() {
		doc, err := os.ReadFile("../docs/scenarios.md")
		Expect(err).NotTo(HaveOccurred())
		// Every field is described, and appears in an example.
		var examples strings.Builder
		for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
			examples.WriteString(block[1])
		}
		for _, field := range []string{"name", "description", "seed", "duration", "clusters", "spare-clusters", "hsms", "keys", "op-timeout",
			"observe-every", "workload", "op", "clients", "rate", "store", "spare", "from", "to", "steps", "at", "after", "inject", "heal",
			"cluster", "hsm", "zone", "repair", "every", "hold", "pick", "parallel", "serial", "deadline", "expect", "all-connected-within",
			"at-least", "observed", "call", "outcome", "error", "count", "state", "code"} {
			Expect(string(doc)).To(ContainSubstring("`"+field+"`"), field)
			Expect(examples.String()).To(MatchRegexp(`(?m)^[ -]*`+regexp.QuoteMeta(field)+`:`), "an example of %s", field)
		}
		for _, op := range scenarios.WorkloadOps() {
			Expect(string(doc)).To(ContainSubstring("`"+op+"`"), op)
		}
		for _, b := range scenarios.Builtins() {
			Expect(string(doc)).To(ContainSubstring("`"+b.Name+"`"), b.Name)
		}
	})
})

var _ = Describe("The schedule", func() {
	It("is the same for the same seed, and the picks differ for another", func() {
		s, ok := scenarios.Builtin("nemesis-mix")
		Expect(ok).To(BeTrue())
		a, b := scenarios.NewPlan(s, 7, 0), scenarios.NewPlan(s, 7, 0)
		Expect(a).To(Equal(b))
		Expect(len(a.Actions)).To(BeNumerically(">", 10))
		c := scenarios.NewPlan(s, 8, 0)
		Expect(c.Actions).NotTo(Equal(a.Actions))
	})

	It("scales every time with --duration", func() {
		s, _ := scenarios.Builtin("rolling-hsm-restarts")
		full, short := scenarios.NewPlan(s, 1, 0), scenarios.NewPlan(s, 1, s.Duration/3)
		Expect(short.Scale).To(BeNumerically("~", 1.0/3, 1e-9))
		Expect(short.Actions[0].At).To(Equal(full.Actions[0].At / 3))
		Expect(short.Actions[0].Steps[1].After).To(Equal(full.Actions[0].Steps[1].After / 3))
	})

	It("expands a nemesis into injections and heals, each healed after its hold, never on a scope an explicit step holds", func() {
		s, err := scenarios.Parse([]byte(`name: x
duration: 20s
hsms: 2
steps:
  - at: 0s
    inject: node-hung
    cluster: 0
    hsm: 0
  - at: 19s
    heal: node-hung
    cluster: 0
    hsm: 0
  - from: 2s
    to: 18s
    every: 2s
    hold: 1s
    pick: [node-hung]
`), "x.yaml")
		Expect(err).NotTo(HaveOccurred())
		for seed := uint64(0); seed < 20; seed++ {
			p := scenarios.NewPlan(s, seed, 0)
			injects := 0
			for i, a := range p.Actions {
				if a.Origin == "steps[2] pick 0" && a.Kind == "inject" {
					Expect(p.Actions[i+1].Kind).To(Equal("heal"))
				}
				if strings.HasPrefix(a.Origin, "steps[2]") && a.Kind == "inject" {
					injects++
					Expect(*a.HSM).To(Equal(1), "the nemesis picked the HSM the explicit steps hold hung")
				}
			}
			Expect(injects).To(Equal(8))
		}
	})
})
