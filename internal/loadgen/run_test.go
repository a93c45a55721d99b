package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func TestRunCountsOperationsErrorsAndBatches(t *testing.T) {
	var calls int
	fail := &smithy.GenericAPIError{Code: "KMSInternalException"}
	op := func(_ context.Context, worker int) error {
		if worker != 0 {
			t.Errorf("worker %d with one client", worker)
		}
		calls++
		if calls%10 == 0 {
			return fail
		}
		return nil
	}
	res, err := Run(context.Background(), Config{Clients: 1, Count: 100, BatchSize: 25}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 100 || calls != 100 {
		t.Errorf("ops %d, calls %d; want 100", res.Ops, calls)
	}
	if res.Errors != 10 || res.ByCode["KMSInternalException"] != 10 {
		t.Errorf("errors %d %v; want 10 KMSInternalException", res.Errors, res.ByCode)
	}
	if len(res.Batches) != 4 {
		t.Errorf("%d batches of 25 in 100 operations", len(res.Batches))
	}
}

func TestRunStopsAfterItsDurationAndMeasuresLatency(t *testing.T) {
	op := func(context.Context, int) error { time.Sleep(2 * time.Millisecond); return nil }
	res, err := Run(context.Background(), Config{Clients: 4, Duration: 100 * time.Millisecond}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Elapsed < 100*time.Millisecond {
		t.Errorf("ops %d in %v", res.Ops, res.Elapsed)
	}
	if res.P50 < 2*time.Millisecond || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("percentiles p50 %v p99 %v max %v", res.P50, res.P99, res.Max)
	}
}

func TestRunDoesNotCountInterruptedOperations(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	op := func(ctx context.Context, _ int) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	res, err := Run(ctx, Config{Clients: 2, Duration: time.Minute}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 0 || res.Errors != 0 {
		t.Errorf("interrupted run counted %d ops, %d errors", res.Ops, res.Errors)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestErrorCode(t *testing.T) {
	if got := ErrorCode(&smithy.GenericAPIError{Code: "NotFoundException"}); got != "NotFoundException" {
		t.Errorf("API error code %q", got)
	}
	if got := ErrorCode(context.DeadlineExceeded); got != "Timeout" {
		t.Errorf("timeout %q", got)
	}
	if got := ErrorCode(errors.New("connection reset")); got != "TransportError" {
		t.Errorf("transport %q", got)
	}
}

func TestWorkloadCheck(t *testing.T) {
	for _, w := range []Workload{
		{Op: "sign"},
		{Op: OpEncrypt, Size: 5000},
		{Op: OpGenerateRandom, Size: 2000},
		{Op: OpCreateKey, KeyID: "k"},
		{Op: OpEncrypt, Size: 10, KeyID: "k", StoreID: "cks-1"},
		{Op: OpGenerateRandom, Size: 32, KeyID: "k"},
		{Op: OpEncrypt, Size: 10, StoreID: NewStore},
	} {
		if err := w.check(); !errors.Is(err, ErrInvalidWorkload) {
			t.Errorf("%+v: %v, want ErrInvalidWorkload", w, err)
		}
	}
	if err := (Workload{Op: OpDecrypt, Size: 4096, StoreID: "cks-1"}).check(); err != nil {
		t.Errorf("valid workload refused: %v", err)
	}
}
