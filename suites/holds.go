package suites

import (
	"context"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/control"
)

// A rule about what a store does while CONNECTING or DISCONNECTING must
// not depend on how long the target stays there: the spec holds the store
// in the state through the control API's holds, and without them reports
// its rule inconclusive (a skip whose reason starts InconclusivePrefix).

// inconclusive ends the spec as inconclusive: its rule could not be
// decided on this target, for the reason given.
func inconclusive(reason string) {
	ginkgo.Skip(InconclusivePrefix + reason)
}

// canHold reports whether the target's control API serves holds (asked
// once per registration).
func (s *suite) canHold(ctx context.Context) bool {
	if s.cfg.Control == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds == nil {
		info, err := s.cfg.Control.Info(ctx)
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "asking the control API which features it serves")
		has := info.Has(control.FeatureHolds)
		s.holds = &has
	}
	return *s.holds
}

// needHolds makes the spec inconclusive when the target cannot hold a
// store in a transient state; a spec calls it before it makes anything.
func needHolds(ctx context.Context, s *suite) {
	if !s.canHold(ctx) {
		inconclusive("the rule is about a transient state, which only the control API's holds keep in place (run with --control against a target that serves holds)")
	}
}

// hold is an armed hold on a store's next connect or disconnect.
type hold struct {
	s  *suite
	id string
}

// holdNext arms a hold on the store's next connect or disconnect
// (control.TransitionConnect, control.TransitionDisconnect), released when
// the spec ends at the latest. Without holds the spec is inconclusive:
// what it checks happens in a state the target may leave at any time.
func holdNext(ctx context.Context, s *suite, storeID, transition string) hold {
	needHolds(ctx, s)
	h, err := s.cfg.Control.Hold(ctx, control.HoldRequest{Store: storeID, Transition: transition})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "arming a %s hold", transition)
	held := hold{s: s, id: h.HoldID}
	ginkgo.DeferCleanup(func(ctx context.Context) { held.release(ctx) })
	return held
}

// holding waits until the hold keeps its store in the transient state.
func (h hold) holding(ctx context.Context) {
	gomega.Eventually(ctx, func() (control.Hold, error) {
		return h.s.cfg.Control.HoldState(ctx, h.id)
	}).WithTimeout(h.s.cfg.connectTimeout()).WithPolling(pollInterval).Should(gomega.HaveField("Holding", true), "the store is held")
}

// release lets the held transition go on.
func (h hold) release(ctx context.Context) {
	gomega.Expect(h.s.cfg.Control.Release(ctx, h.id)).To(gomega.Succeed(), "releasing hold %s", h.id)
}
