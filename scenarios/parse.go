package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrBadScenario matches (errors.Is) every error about a scenario that
// cannot run as written: a malformed file, a field out of range, a fault the
// target does not serve.
var ErrBadScenario = errors.New("bad scenario")

// FieldError is one mistake in a scenario: where it is, which field, what.
type FieldError struct {
	Source string
	Line   int
	Field  string
	Msg    string
}

func (e *FieldError) Error() string {
	where := e.Source
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.Source, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", where, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Field, e.Msg)
}

// ScenarioError lists the mistakes of a scenario. It matches ErrBadScenario.
type ScenarioError struct {
	Errors []*FieldError
}

func (e *ScenarioError) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Is makes a ScenarioError match ErrBadScenario.
func (e *ScenarioError) Is(target error) bool { return target == ErrBadScenario }

// MaxFileSize bounds a scenario file.
const MaxFileSize = 1 << 20

// maxErrors bounds the mistakes one parse reports.
const maxErrors = 20

// Load reads a scenario: a built-in's name (kmsharness chaos list) or the
// path of a YAML file. The scenario is validated.
func Load(nameOrPath string) (*Scenario, error) {
	if s, ok := Builtin(nameOrPath); ok {
		return s, nil
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(nameOrPath, "/.") {
			return nil, &ScenarioError{Errors: []*FieldError{{Source: nameOrPath,
				Msg: "no built-in scenario or file of that name (kmsharness chaos list shows the built-ins)"}}}
		}
		return nil, fmt.Errorf("%w: %w", ErrBadScenario, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadScenario, err)
	}
	return Parse(data, nameOrPath)
}

// Parse decodes and validates a scenario file; source names it in errors.
// Errors name the line and the field (a *ScenarioError).
func Parse(data []byte, source string) (*Scenario, error) {
	d := &decoder{source: source, lines: map[string]int{}}
	if len(data) > MaxFileSize {
		d.fail(0, "", "the file is larger than %d bytes", MaxFileSize)
		return nil, d.err()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.fail(0, "", "the file is empty")
		} else {
			d.fail(0, "", "not YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil, d.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.fail(extra.Line, "", "a scenario file holds one YAML document")
		return nil, d.err()
	}
	if len(doc.Content) != 1 {
		d.fail(doc.Line, "", "the file is empty")
		return nil, d.err()
	}
	s := d.scenario(doc.Content[0])
	if s == nil || len(d.errs) > 0 {
		return nil, d.err()
	}
	s.Source, s.Text, s.lines = source, string(data), d.lines
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// decoder turns a YAML node tree into a Scenario, collecting every mistake
// with its line and field path.
type decoder struct {
	source string
	lines  map[string]int
	errs   []*FieldError
}

func (d *decoder) fail(line int, field, format string, args ...any) {
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, &FieldError{Source: d.source, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
}

func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	return &ScenarioError{Errors: d.errs}
}

// fields checks that node is a mapping whose keys are all in allowed (each
// once), records their lines under path, and returns their values.
func (d *decoder) fields(node *yaml.Node, path string, allowed ...string) map[string]*yaml.Node {
	if !d.plain(node, path) {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		d.fail(node.Line, path, "want a mapping (field: value lines), not %s", describeNode(node))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, path, "a field name must be a plain word")
			continue
		}
		field := join(path, k.Value)
		if !slices.Contains(allowed, k.Value) {
			d.fail(k.Line, field, "unknown field (known here: %s)", strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.fail(k.Line, field, "given twice")
			continue
		}
		out[k.Value] = v
		d.lines[field] = k.Line
	}
	return out
}

// plain refuses anchors, aliases and merge keys: a scenario is written out
// in full (and a file cannot expand into a huge document).
func (d *decoder) plain(node *yaml.Node, path string) bool {
	if node.Kind == yaml.AliasNode || node.Anchor != "" {
		d.fail(node.Line, path, "anchors and aliases (&, *) are not supported: write the value out")
		return false
	}
	return true
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "that"
}

func (d *decoder) scalar(n *yaml.Node, path string) bool {
	if !d.plain(n, path) {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.fail(n.Line, path, "want a value, not %s", describeNode(n))
		return false
	}
	return true
}

func (d *decoder) str(n *yaml.Node, path string) string {
	if !d.scalar(n, path) {
		return ""
	}
	if n.ShortTag() != "!!str" {
		d.fail(n.Line, path, "want text, not %s", describeNode(n))
		return ""
	}
	return n.Value
}

func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	if !d.scalar(n, path) {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 10, 32)
	if n.ShortTag() != "!!int" || err != nil {
		d.fail(n.Line, path, "want a whole number, not %s", describeNode(n))
		return 0, false
	}
	return int(v), true
}

func (d *decoder) intPtr(n *yaml.Node, path string) *int {
	if v, ok := d.integer(n, path); ok {
		return &v
	}
	return nil
}

func (d *decoder) uint64(n *yaml.Node, path string) (uint64, bool) {
	if !d.scalar(n, path) {
		return 0, false
	}
	v, err := strconv.ParseUint(n.Value, 10, 64)
	if n.ShortTag() != "!!int" || err != nil {
		d.fail(n.Line, path, "want a whole number from 0 to %d, not %s", uint64(math.MaxUint64), describeNode(n))
		return 0, false
	}
	return v, true
}

func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if !d.scalar(n, path) {
		return 0, false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(n.Line, path, "want a duration such as 500ms, 30s or 1m30s, not %s", describeNode(n))
		return 0, false
	}
	if v < 0 {
		d.fail(n.Line, path, "a duration cannot be negative")
		return 0, false
	}
	return v, true
}

func (d *decoder) durationPtr(n *yaml.Node, path string) *time.Duration {
	if v, ok := d.duration(n, path); ok {
		return &v
	}
	return nil
}

// rate parses "50/s" or "600/m" into calls per second.
func (d *decoder) rate(n *yaml.Node, path string) float64 {
	if !d.scalar(n, path) {
		return 0
	}
	num, unit, ok := strings.Cut(n.Value, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[strings.TrimSpace(unit)]
	if !ok || err != nil || per == 0 || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		d.fail(n.Line, path, "want a rate such as 50/s or 600/m, not %s", describeNode(n))
		return 0
	}
	return v / per
}

func (d *decoder) list(n *yaml.Node, path string) []*yaml.Node {
	if !d.plain(n, path) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "want a list (lines starting with -), not %s", describeNode(n))
		return nil
	}
	for i, item := range n.Content {
		d.lines[index(path, i)] = item.Line
	}
	return n.Content
}

func (d *decoder) strList(n *yaml.Node, path string) []string {
	var out []string
	for i, item := range d.list(n, path) {
		if s := d.str(item, index(path, i)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) scenario(root *yaml.Node) *Scenario {
	f := d.fields(root, "", "name", "description", "seed", "duration", "clusters", "spare-clusters", "hsms", "keys",
		"op-timeout", "observe-every", "workload", "steps", "expect")
	if f == nil {
		return nil
	}
	s := &Scenario{Clusters: 1, HSMs: DefaultHSMs, Keys: DefaultKeys, OpTimeout: DefaultOpTimeout, ObserveEvery: DefaultObserveEvery,
		Expect: Expectations{AllConnectedWithin: DefaultAllConnectedWithin}}
	if n := f["name"]; n != nil {
		s.Name = d.str(n, "name")
	} else {
		d.fail(root.Line, "name", "required")
	}
	if n := f["description"]; n != nil {
		s.Description = d.str(n, "description")
	}
	if n := f["seed"]; n != nil {
		if v, ok := d.uint64(n, "seed"); ok {
			s.Seed = &v
		}
	}
	if n := f["duration"]; n != nil {
		s.Duration, _ = d.duration(n, "duration")
	} else {
		d.fail(root.Line, "duration", "required (how long the clients run, such as 30s)")
	}
	for _, field := range []struct {
		name string
		dst  *int
	}{{"clusters", &s.Clusters}, {"spare-clusters", &s.SpareClusters}, {"hsms", &s.HSMs}, {"keys", &s.Keys}} {
		if n := f[field.name]; n != nil {
			if v, ok := d.integer(n, field.name); ok {
				*field.dst = v
			}
		}
	}
	for _, field := range []struct {
		name string
		dst  *time.Duration
	}{{"op-timeout", &s.OpTimeout}, {"observe-every", &s.ObserveEvery}} {
		if n := f[field.name]; n != nil {
			if v, ok := d.duration(n, field.name); ok {
				*field.dst = v
			}
		}
	}
	if n := f["workload"]; n != nil {
		for i, item := range d.list(n, "workload") {
			if w, ok := d.workload(item, index("workload", i)); ok {
				s.Workload = append(s.Workload, w)
			}
		}
	}
	if n := f["steps"]; n != nil {
		s.Steps = d.steps(n, "steps")
	}
	if n := f["expect"]; n != nil {
		d.expect(n, &s.Expect)
	}
	return s
}

func (d *decoder) workload(n *yaml.Node, path string) (Workload, bool) {
	f := d.fields(n, path, "op", "clients", "rate", "store", "spare", "from", "to")
	if f == nil {
		return Workload{}, false
	}
	w := Workload{Clients: 1}
	if v := f["op"]; v != nil {
		w.Op = d.str(v, join(path, "op"))
	} else {
		d.fail(n.Line, join(path, "op"), "required (one of %s)", strings.Join(WorkloadOps(), ", "))
	}
	if v := f["clients"]; v != nil {
		w.Clients, _ = d.integer(v, join(path, "clients"))
	}
	if v := f["rate"]; v != nil {
		w.Rate = d.rate(v, join(path, "rate"))
	}
	if v := f["store"]; v != nil {
		w.Store = d.intPtr(v, join(path, "store"))
	}
	if v := f["spare"]; v != nil {
		w.Spare, _ = d.integer(v, join(path, "spare"))
	}
	if v := f["from"]; v != nil {
		w.From, _ = d.duration(v, join(path, "from"))
	}
	if v := f["to"]; v != nil {
		w.To, _ = d.duration(v, join(path, "to"))
	}
	return w, true
}

func (d *decoder) steps(n *yaml.Node, path string) []Step {
	var out []Step
	for i, item := range d.list(n, path) {
		if st, ok := d.step(item, index(path, i)); ok {
			out = append(out, st)
		}
	}
	return out
}

func (d *decoder) step(n *yaml.Node, path string) (Step, bool) {
	f := d.fields(n, path, "at", "after", "inject", "heal", "cluster", "hsm", "zone", "repair", "from", "to", "every", "hold",
		"pick", "parallel", "serial", "deadline")
	if f == nil {
		return Step{}, false
	}
	st := Step{path: path, line: n.Line}
	if v := f["at"]; v != nil {
		st.At = d.durationPtr(v, join(path, "at"))
	}
	if v := f["after"]; v != nil {
		st.After, _ = d.duration(v, join(path, "after"))
	}
	if v := f["inject"]; v != nil {
		st.Inject = d.str(v, join(path, "inject"))
	}
	if v := f["heal"]; v != nil {
		st.Heal = d.str(v, join(path, "heal"))
	}
	if v := f["cluster"]; v != nil {
		st.Cluster = d.intPtr(v, join(path, "cluster"))
	}
	if v := f["hsm"]; v != nil {
		st.HSM = d.intPtr(v, join(path, "hsm"))
	}
	if v := f["zone"]; v != nil {
		st.Zone = d.intPtr(v, join(path, "zone"))
	}
	if v := f["repair"]; v != nil {
		st.Repair = d.intPtr(v, join(path, "repair"))
	}
	if v := f["from"]; v != nil {
		st.From = d.durationPtr(v, join(path, "from"))
	}
	if v := f["to"]; v != nil {
		st.To, _ = d.duration(v, join(path, "to"))
	}
	if v := f["every"]; v != nil {
		st.Every, _ = d.duration(v, join(path, "every"))
	}
	if v := f["hold"]; v != nil {
		st.Hold, _ = d.duration(v, join(path, "hold"))
	}
	if v := f["pick"]; v != nil {
		st.Pick = d.strList(v, join(path, "pick"))
	}
	if v := f["parallel"]; v != nil {
		st.Parallel = d.steps(v, join(path, "parallel"))
	}
	if v := f["serial"]; v != nil {
		st.Serial = d.steps(v, join(path, "serial"))
	}
	if v := f["deadline"]; v != nil {
		st.Deadline, _ = d.duration(v, join(path, "deadline"))
	}
	return st, true
}

// expect decodes the expect list: each item a mapping of one expectation.
func (d *decoder) expect(n *yaml.Node, e *Expectations) {
	for i, item := range d.list(n, "expect") {
		path := index("expect", i)
		f := d.fields(item, path, "all-connected-within", "at-least", "observed")
		if f == nil {
			continue
		}
		if len(f) != 1 {
			d.fail(item.Line, path, "one expectation per list item")
			continue
		}
		if v := f["all-connected-within"]; v != nil {
			e.AllConnectedWithin, _ = d.duration(v, join(path, "all-connected-within"))
		}
		if v := f["at-least"]; v != nil {
			p := join(path, "at-least")
			g := d.fields(v, p, "call", "outcome", "error", "count")
			if g == nil {
				continue
			}
			a := AtLeast{Outcome: "ok", Count: 1}
			if c := g["call"]; c != nil {
				a.Call = d.str(c, join(p, "call"))
			} else {
				d.fail(v.Line, join(p, "call"), "required (an AWS operation such as Encrypt)")
			}
			if c := g["outcome"]; c != nil {
				a.Outcome = d.str(c, join(p, "outcome"))
			}
			if c := g["error"]; c != nil {
				a.Error = d.str(c, join(p, "error"))
			}
			if c := g["count"]; c != nil {
				a.Count, _ = d.integer(c, join(p, "count"))
			}
			e.AtLeast = append(e.AtLeast, a)
		}
		if v := f["observed"]; v != nil {
			p := join(path, "observed")
			g := d.fields(v, p, "store", "state", "code")
			if g == nil {
				continue
			}
			var o Observed
			if c := g["store"]; c != nil {
				o.Store = d.intPtr(c, join(p, "store"))
			}
			if c := g["state"]; c != nil {
				o.State = d.str(c, join(p, "state"))
			} else {
				d.fail(v.Line, join(p, "state"), "required (CONNECTED, FAILED, …)")
			}
			if c := g["code"]; c != nil {
				o.Code = d.str(c, join(p, "code"))
			}
			e.Observed = append(e.Observed, o)
		}
	}
}
