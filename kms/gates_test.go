package kms_test

import (
	"context"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/kms"
)

// gates hold operations of this process's KMS front end at a step (its
// step hook), so that a spec can race another operation against one at an
// exact instant. A spec gates the steps of its own stores only.
var gates = &gateRegistry{open: map[gateKey]*gate{}}

type gateKey struct {
	step  kms.Step
	store string
}

type gateRegistry struct {
	mu   sync.Mutex
	open map[gateKey]*gate
}

// gate stops every operation that reaches its step for its store until it
// is released.
type gate struct {
	arrived  chan struct{} // one value per operation that reached the step
	released chan struct{}
	once     sync.Once
}

// hold makes a gate at the step for the store (a store ID, or for
// kms.StepCreateStoreChecked a store name); it is released and removed after
// the spec.
func (r *gateRegistry) hold(step kms.Step, store string) *gate {
	g := &gate{arrived: make(chan struct{}, 64), released: make(chan struct{})}
	r.mu.Lock()
	r.open[gateKey{step, store}] = g
	r.mu.Unlock()
	DeferCleanup(func() {
		r.mu.Lock()
		delete(r.open, gateKey{step, store})
		r.mu.Unlock()
		g.release()
	})
	return g
}

// hook is the front end's step hook.
func (r *gateRegistry) hook(ctx context.Context, step kms.Step, store string) {
	r.mu.Lock()
	g := r.open[gateKey{step, store}]
	r.mu.Unlock()
	if g == nil {
		return
	}
	g.arrived <- struct{}{}
	select {
	case <-g.released:
	case <-ctx.Done():
	}
}

// wait waits until n operations reached the gate.
func (g *gate) wait(n int) {
	for range n {
		Eventually(g.arrived).Should(Receive())
	}
}

// release lets every operation held at the gate, and every later one, go on.
func (g *gate) release() { g.once.Do(func() { close(g.released) }) }
