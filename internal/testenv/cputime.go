package testenv

import (
	"syscall"
	"time"
)

// CPUTime returns the user and system CPU time of this process and of its
// children that exited (and were waited for), for benchmarks to report
// beside wall time: on a shared machine it moves much less.
func CPUTime() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
