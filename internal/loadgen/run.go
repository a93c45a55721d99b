// Package loadgen drives a KMS endpoint with concurrent requests and measures
// it: throughput, latency percentiles and errors by code. It is the engine of
// `kmsharness bench`; one aws-sdk-go-v2 client serves every worker, so that
// the same client measures every KMS implementation alike.
package loadgen

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go"
)

// Config says how long and how hard to drive an operation.
type Config struct {
	// Clients is the number of concurrent workers, each with one request in
	// flight at a time.
	Clients int
	// Duration ends the run after this long (0: no time limit).
	Duration time.Duration
	// Count ends the run after this many operations in all (0: no limit).
	// At least one of Duration and Count must be set.
	Count int
	// BatchSize, if set, records the rate of every successive batch of this
	// many operations (Result.Batches), to show whether a rate holds as
	// state piles up (key creation, for one).
	BatchSize int
}

// Op is one operation of the load; worker numbers run from 0 to Clients-1.
type Op func(ctx context.Context, worker int) error

// Result is what a run measured.
type Result struct {
	Ops     int            // operations completed, failed ones included
	Errors  int            // operations that failed
	ByCode  map[string]int // failures by error code (the AWS error code when there is one)
	Elapsed time.Duration
	// Latency percentiles over every operation, failed ones included.
	P50, P90, P99, Max time.Duration
	// Batches holds the rate (operations per second) of each complete batch
	// of Config.BatchSize operations, in order.
	Batches []float64
}

// Throughput is successful operations per second (failures, which may be
// quick, do not count).
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops-r.Errors) / r.Elapsed.Seconds()
}

// Run drives op from cfg.Clients workers until the duration or count is
// reached or ctx ends (an interrupted operation is not counted), and
// measures it.
func Run(ctx context.Context, cfg Config, op Op) (Result, error) {
	if cfg.Clients < 1 {
		return Result{}, errors.New("loadgen: at least one client is needed")
	}
	if cfg.Duration <= 0 && cfg.Count <= 0 {
		return Result{}, errors.New("loadgen: a duration or a count is needed")
	}
	var (
		issued    atomic.Int64 // operations started (for Count)
		completed atomic.Int64
		batchMu   sync.Mutex
		batchEnds []time.Time
	)
	workers := make([]workerStats, cfg.Clients)
	start := time.Now()
	// Operations run to their end when the time is up: only a new one is
	// not started, so the last ones are measured like the others.
	timeUp := func() bool { return cfg.Duration > 0 && time.Since(start) >= cfg.Duration }
	var wg sync.WaitGroup
	for w := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := &workers[w]
			ws.byCode = map[string]int{}
			for ctx.Err() == nil && !timeUp() {
				if cfg.Count > 0 && issued.Add(1) > int64(cfg.Count) {
					return
				}
				t0 := time.Now()
				err := op(ctx, w)
				took := time.Since(t0)
				if err != nil && ctx.Err() != nil {
					return // interrupted: not a result
				}
				ws.latencies = append(ws.latencies, took)
				if err != nil {
					ws.byCode[ErrorCode(err)]++
				}
				if n := completed.Add(1); cfg.BatchSize > 0 && n%int64(cfg.BatchSize) == 0 {
					now := time.Now()
					batchMu.Lock()
					batchEnds = append(batchEnds, now)
					batchMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start), ByCode: map[string]int{}}
	var all []time.Duration
	for _, ws := range workers {
		all = append(all, ws.latencies...)
		for code, n := range ws.byCode {
			res.ByCode[code] += n
			res.Errors += n
		}
	}
	res.Ops = len(all)
	slices.Sort(all)
	res.P50, res.P90, res.P99 = percentile(all, 0.50), percentile(all, 0.90), percentile(all, 0.99)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
	slices.SortFunc(batchEnds, func(a, b time.Time) int { return a.Compare(b) })
	prev := start
	for _, end := range batchEnds {
		res.Batches = append(res.Batches, float64(cfg.BatchSize)/end.Sub(prev).Seconds())
		prev = end
	}
	return res, nil
}

// workerStats is what one worker records, merged when the run ends.
type workerStats struct {
	latencies []time.Duration
	byCode    map[string]int
}

// percentile returns the p-quantile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ErrorCode names a failure: the AWS error code of an API error, otherwise
// the kind of failure (a timeout, a broken connection).
func ErrorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Timeout"
	}
	return "TransportError"
}
