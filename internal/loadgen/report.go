package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is a run's result in the form `kmsharness bench --json` prints.
type Report struct {
	Op         string         `json:"op"`
	Clients    int            `json:"clients"`
	Size       int            `json:"size,omitempty"`
	Ops        int            `json:"ops"`
	Errors     int            `json:"errors"`
	ErrorCodes map[string]int `json:"errorCodes,omitempty"`
	Seconds    float64        `json:"seconds"`
	// OpsPerSec counts successful operations only.
	OpsPerSec float64 `json:"opsPerSec"`
	P50Ms     float64 `json:"p50Ms"`
	P90Ms     float64 `json:"p90Ms"`
	P99Ms     float64 `json:"p99Ms"`
	MaxMs     float64 `json:"maxMs"`
	BatchSize int     `json:"batchSize,omitempty"`
	// BatchOpsPerSec is the rate of each successive batch of BatchSize
	// operations.
	BatchOpsPerSec []float64 `json:"batchOpsPerSec,omitempty"`
}

// NewReport gathers a workload, its configuration and its result.
func NewReport(w Workload, cfg Config, r Result) Report {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rep := Report{Op: w.Op, Clients: cfg.Clients, Size: w.Size, Ops: r.Ops, Errors: r.Errors, Seconds: r.Elapsed.Seconds(),
		OpsPerSec: r.Throughput(), P50Ms: ms(r.P50), P90Ms: ms(r.P90), P99Ms: ms(r.P99), MaxMs: ms(r.Max),
		BatchSize: cfg.BatchSize, BatchOpsPerSec: r.Batches}
	if len(r.ByCode) > 0 {
		rep.ErrorCodes = r.ByCode
	}
	if rep.Size == 0 {
		rep.Size = DefaultSizes[w.Op]
	}
	return rep
}

// WriteJSON writes the report as one JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d clients", r.Op, r.Clients)
	if r.Size > 0 && r.Op != OpCreateKey {
		fmt.Fprintf(&b, ", %d bytes", r.Size)
	}
	fmt.Fprintf(&b, "\n  ops        %d in %.2f s\n", r.Ops, r.Seconds)
	fmt.Fprintf(&b, "  ops/s      %.1f (successful)\n", r.OpsPerSec)
	fmt.Fprintf(&b, "  latency    p50 %.2f ms   p90 %.2f ms   p99 %.2f ms   max %.2f ms\n", r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs)
	fmt.Fprintf(&b, "  errors     %d\n", r.Errors)
	codes := make([]string, 0, len(r.ErrorCodes))
	for code := range r.ErrorCodes {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		fmt.Fprintf(&b, "    %-40s %d\n", code, r.ErrorCodes[code])
	}
	if len(r.BatchOpsPerSec) > 0 {
		fmt.Fprintf(&b, "  ops/s per batch of %d:", r.BatchSize)
		for i, rate := range r.BatchOpsPerSec {
			if i%10 == 0 {
				b.WriteString("\n   ")
			}
			fmt.Fprintf(&b, " %7.1f", rate)
		}
		b.WriteString("\n")
		first, last := r.BatchOpsPerSec[0], r.BatchOpsPerSec[len(r.BatchOpsPerSec)-1]
		fmt.Fprintf(&b, "  last batch / first batch: %.2f\n", last/first)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
