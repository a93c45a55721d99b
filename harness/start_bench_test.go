package harness_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// BenchmarkStartToReadyCluster measures harness.Start and NewCluster (the
// control plane, the KMS front end, a 2-HSM cluster ACTIVE with kmsuser),
// what `kmsharness up` does before it prints its environment; Close is not
// timed. cpu-ms/op is the CPU time of this process and of the HSM nodes
// (counted once they exited), Close included: on a shared machine it moves
// less than the wall time. It runs with the harness's files where they go
// by default (dir=default: a RAM-backed file system when TMPDIR is not set)
// and in os.TempDir() (dir=tempdir), to compare the two.
//
//	go test ./harness -run '^$' -bench StartToReadyCluster -benchtime 20x
func BenchmarkStartToReadyCluster(b *testing.B) {
	if _, err := testenv.BuildHSMNode(testenv.BinDir("bench")); err != nil {
		b.Fatal(err)
	}
	b.Run("dir=default", func(b *testing.B) { benchmarkStartToReadyCluster(b) })
	b.Run("dir=tempdir", func(b *testing.B) { benchmarkStartToReadyCluster(b, harness.WithTempRoot(os.TempDir())) })
}

func benchmarkStartToReadyCluster(b *testing.B, opts ...harness.Option) {
	ctx := context.Background()
	cpu0 := testenv.CPUTime()
	for b.Loop() {
		h, err := harness.Start(ctx, opts...)
		if err == nil {
			_, err = h.NewCluster(ctx)
		}
		b.StopTimer()
		if cerr := h.Close(ctx); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(testenv.CPUTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
