package scenarios

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// ReportFile is the name of the HTML report in a run's directory.
const ReportFile = "report.html"

//go:embed report.html.tmpl
var reportTemplate string

// WriteReport writes a run's artefacts to dir: history.json, report.html,
// and a porcupine visualisation for each search that failed.
func WriteReport(dir string, h *History, verdicts []Verdict) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := WriteHistory(dir, h); err != nil {
		return err
	}
	a := analyse(h)
	for _, v := range verdicts {
		for _, rec := range v.models {
			if rec.result == porcupine.Ok {
				continue
			}
			info := rec.info
			info.AddAnnotations(faultAnnotations(a))
			if err := porcupine.VisualizePath(rec.model, info, filepath.Join(dir, visualizationName(rec.name))); err != nil {
				return fmt.Errorf("porcupine visualisation of %s: %w", rec.name, err)
			}
		}
	}
	page, err := renderReport(a, verdicts)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ReportFile), page, 0o644)
}

// removeArtefacts removes what WriteReport wrote, and the directory when
// the run made it and nothing else is in it.
func removeArtefacts(dir string, made bool) {
	_ = os.Remove(filepath.Join(dir, HistoryFile))
	_ = os.Remove(filepath.Join(dir, ReportFile))
	if matches, err := filepath.Glob(filepath.Join(dir, "porcupine-*.html")); err == nil {
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
	if made {
		_ = os.Remove(dir)
	}
}

// faultAnnotations marks the fault windows on a porcupine visualisation.
func faultAnnotations(a *analysis) []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, w := range a.faults {
		till := w.maybeTill
		if till >= never {
			till = a.end
		}
		out = append(out, porcupine.Annotation{Tag: "faults", Start: w.maybeFrom, End: till, Description: w.fault,
			Details: w.String(), BackgroundColor: "#f6d3d3"})
	}
	return out
}

// reportData is what the page's scripts draw: the timeline's lanes, the
// fault windows, and throughput and latency over time.
type reportData struct {
	End     int64         `json:"end"`
	RunFrom int64         `json:"runFrom"`
	RunTo   int64         `json:"runTo"`
	Lanes   []reportLane  `json:"lanes"`
	Faults  []reportFault `json:"faults"`
	Buckets reportBuckets `json:"buckets"`
}

// reportLane is one lane of the timeline: a process's calls ([start, end,
// outcome 0 ok / 1 fail / 2 unknown, id]) or a store's described states
// ([start, end, state]).
type reportLane struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	Ops    [][]any `json:"ops,omitempty"`
	States [][]any `json:"states,omitempty"`
}

type reportFault struct {
	Label string `json:"label"`
	From  int64  `json:"from"`
	To    int64  `json:"to"`
}

// reportBuckets are per-interval counts of calls started (by outcome) and
// latencies of the successful ones.
type reportBuckets struct {
	Width   int64     `json:"width"`
	OK      []int     `json:"ok"`
	Fail    []int     `json:"fail"`
	Unknown []int     `json:"unknown"`
	P50     []float64 `json:"p50"`
	P99     []float64 `json:"p99"`
}

// reportPage is what the template fills in.
type reportPage struct {
	H         *History
	Passed    bool
	Verdicts  []Verdict
	Counts    []countRow
	Outcomes  []string
	Slices    []violationSlice
	Plan      []planRow
	Data      template.JS
	Generated string
	Stores    []StoreRecord
	Clusters  []ClusterRecord
}

type countRow struct {
	Call  string
	Cells []int
}

type violationSlice struct {
	V   Violation
	Ops []sliceRow
	// More counts the rows left out.
	More int
}

type sliceRow struct {
	Op       *Operation
	Involved bool
}

type planRow struct {
	At     string
	What   string
	Origin string
	Done   string
}

// maxSliceRows bounds a violation's slice of history in the report.
const maxSliceRows = 200

func renderReport(a *analysis, verdicts []Verdict) ([]byte, error) {
	page := reportPage{H: a.h, Passed: Passed(verdicts), Verdicts: verdicts, Generated: time.Now().UTC().Format(time.RFC3339),
		Stores: a.h.Stores, Clusters: a.h.Clusters}
	page.Counts, page.Outcomes = counts(a)
	for _, v := range verdicts {
		for _, vi := range v.Violations {
			page.Slices = append(page.Slices, historySlice(a, vi))
		}
	}
	page.Plan = planRows(a)
	data, err := json.Marshal(timelineData(a))
	if err != nil {
		return nil, err
	}
	// The JSON goes into a <script> element: keep "</" out of it.
	page.Data = template.JS(strings.ReplaceAll(string(data), "</", `<\/`))
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"secs":  func(n int64) string { return fmtNanos(n) },
		"lower": strings.ToLower,
		"dur":   func(d time.Duration) string { return d.String() },
		"join":  strings.Join,
		"ms": func(op *Operation) string {
			if op.isUnknown() {
				return "—"
			}
			return fmt.Sprintf("%.1f", float64(op.End-op.Start)/1e6)
		},
	}).Parse(reportTemplate)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, page); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// counts tabulates calls by operation and outcome ("ok", each exception,
// "unknown").
func counts(a *analysis) ([]countRow, []string) {
	byCall := map[string]map[string]int{}
	outcomes := map[string]bool{}
	for _, op := range a.ops {
		outcome := op.Result
		if op.isFail() {
			outcome = op.errorType()
		}
		if byCall[op.Call] == nil {
			byCall[op.Call] = map[string]int{}
		}
		byCall[op.Call][outcome]++
		outcomes[outcome] = true
	}
	var cols []string
	for o := range outcomes {
		if o != resultOK && o != resultUnknown {
			cols = append(cols, o)
		}
	}
	sort.Strings(cols)
	cols = append(append([]string{resultOK}, cols...), resultUnknown)
	var rows []countRow
	calls := make([]string, 0, len(byCall))
	for c := range byCall {
		calls = append(calls, c)
	}
	sort.Strings(calls)
	for _, c := range calls {
		row := countRow{Call: c}
		for _, o := range cols {
			row.Cells = append(row.Cells, byCall[c][o])
		}
		rows = append(rows, row)
	}
	return rows, cols
}

// historySlice is the part of the history around a violation: the
// operations on its store (or all, if it names none) from a second before
// to a second after, with the ones involved marked.
func historySlice(a *analysis, v Violation) violationSlice {
	from, to := v.From-int64(time.Second), v.To+int64(time.Second)
	involved := map[int]bool{}
	for _, id := range v.Ops {
		involved[id] = true
	}
	s := violationSlice{V: v}
	for _, op := range a.ops {
		end := op.End
		if op.isUnknown() {
			end = never
		}
		in := involved[op.ID] || (op.Start <= to && end >= from &&
			(v.Store == "" || op.Store == v.Store || op.Call == callInject || op.Call == callHeal))
		if !in {
			continue
		}
		if len(s.Ops) < maxSliceRows || involved[op.ID] {
			s.Ops = append(s.Ops, sliceRow{Op: op, Involved: involved[op.ID]})
		} else {
			s.More++
		}
	}
	return s
}

// planRows lists the planned schedule with what became of each action.
func planRows(a *analysis) []planRow {
	if a.h.Plan == nil {
		return nil
	}
	var rows []planRow
	var walk func(act Action, at string, depth int)
	walk = func(act Action, at string, depth int) {
		done := ""
		for _, op := range a.ops {
			if op.Step == act.Origin && (op.Call == callInject || op.Call == callHeal) &&
				(act.Kind == actInject && op.Call == callInject || act.Kind == actHeal && op.Call == callHeal) {
				done = fmt.Sprintf("%s at %s: %s", op.Call, fmtNanos(op.Start), outcomeText(op))
			}
		}
		rows = append(rows, planRow{At: at, What: strings.Repeat("  ", depth) + act.String(), Origin: act.Origin, Done: done})
		for _, m := range act.Steps {
			after := ""
			if m.After > 0 {
				after = "+" + m.After.String()
			}
			walk(m, after, depth+1)
		}
	}
	for _, act := range a.h.Plan.Actions {
		walk(act, act.At.String(), 0)
	}
	return rows
}

// timelineData assembles what the page's scripts draw.
func timelineData(a *analysis) reportData {
	d := reportData{End: max(a.end, 1), RunFrom: a.h.RunStart, RunTo: a.h.RunEnd, Faults: []reportFault{}, Lanes: []reportLane{}}
	// The nemesis lane's windows are drawn from the fault list.
	for _, w := range a.faults {
		till := w.maybeTill
		if till >= never {
			till = a.end
		}
		d.Faults = append(d.Faults, reportFault{Label: w.String(), From: w.maybeFrom, To: till})
	}
	// A lane per store (its described states), then per process.
	for _, id := range a.storeOrder {
		s := a.stores[id]
		name := "store " + id
		if s.index >= 0 {
			name = fmt.Sprintf("store %d (%s)", s.index, id)
		}
		lane := reportLane{Name: name, Kind: "store"}
		for _, o := range s.observations {
			state := observedState(o)
			if o.ErrorCode != "" {
				state += " " + o.ErrorCode
			}
			lane.States = append(lane.States, []any{o.Start, o.End, state})
		}
		d.Lanes = append(d.Lanes, lane)
	}
	procs := map[string]*reportLane{}
	var order []string
	for _, op := range a.ops {
		lane := procs[op.Process]
		if lane == nil {
			name := op.Process
			if op.Workload != "" {
				name += " (" + op.Workload + ")"
			}
			lane = &reportLane{Name: name, Kind: "process"}
			procs[op.Process] = lane
			order = append(order, op.Process)
		}
		outcome := 0
		end := op.End
		switch {
		case op.isFail():
			outcome = 1
		case op.isUnknown():
			outcome = 2
		}
		lane.Ops = append(lane.Ops, []any{op.Start, end, outcome, op.ID})
	}
	sort.SliceStable(order, func(i, j int) bool { return processRank(order[i]) < processRank(order[j]) })
	for _, p := range order {
		d.Lanes = append(d.Lanes, *procs[p])
	}
	d.Buckets = buckets(a)
	return d
}

// processRank orders the process lanes: the nemesis first, then set-up,
// clients, the observer, and the end phases.
func processRank(p string) int {
	for i, prefix := range []string{"nemesis", "setup", "client", "observer", "settle", "verify"} {
		if strings.HasPrefix(p, prefix) {
			return i
		}
	}
	return 9
}

// buckets counts the calls started in each interval of the run (about 120
// of them), by outcome, with the latencies of the successful ones.
func buckets(a *analysis) reportBuckets {
	width := max(a.end/120, int64(100*time.Millisecond))
	n := int(a.end/width) + 1
	b := reportBuckets{Width: width, OK: make([]int, n), Fail: make([]int, n), Unknown: make([]int, n), P50: make([]float64, n), P99: make([]float64, n)}
	lat := make([][]float64, n)
	for _, op := range a.ops {
		i := int(op.Start / width)
		if i < 0 || i >= n {
			continue
		}
		switch {
		case op.isOK():
			b.OK[i]++
			lat[i] = append(lat[i], float64(op.End-op.Start)/1e6)
		case op.isFail():
			b.Fail[i]++
		default:
			b.Unknown[i]++
		}
	}
	for i, l := range lat {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		b.P50[i] = math.Round(l[len(l)/2]*10) / 10
		b.P99[i] = math.Round(l[min(len(l)-1, int(float64(len(l))*0.99))]*10) / 10
	}
	return b
}
