package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Transition names a transient connection state a hold can keep a store in.
type Transition string

// The transitions a hold can stop.
const (
	// TransitionConnect holds the store in CONNECTING.
	TransitionConnect Transition = "connect"
	// TransitionDisconnect holds the store in DISCONNECTING.
	TransitionDisconnect Transition = "disconnect"
)

// Errors of holds.
var (
	// ErrUnknownTransition means a transition is neither connect nor disconnect.
	ErrUnknownTransition = errors.New("unknown transition")
	// ErrHoldExists means the store already has a hold on that transition
	// that has not ended.
	ErrHoldExists = errors.New("the store already has a hold on that transition")
	// ErrHoldEnded means the hold ended (released, its store deleted, the
	// service closed, its connect abandoned) before it held the store.
	ErrHoldEnded = errors.New("the hold ended before it held the store")
)

// endedHoldsKept bounds how many ended holds LookupHold still finds.
const endedHoldsKept = 256

// Hold keeps a store in a transient state: armed by HoldTransition, it
// stops the store's next connect (or disconnect) when the store enters
// CONNECTING (DISCONNECTING) — the connect's work not started, the
// disconnect not settled — until Release. It is what a conformance kit
// uses to check what the API answers in a transient state without racing
// a timer. Its methods are safe for concurrent use.
type Hold struct {
	id         string
	seq        uint64
	storeID    string
	transition Transition

	holding chan struct{} // closed when the hold starts holding its store
	ended   chan struct{} // closed when the hold ends
	once    sync.Once     // ends the hold
	onEnd   func(*Hold)   // files the hold with the ended ones
	mu      sync.Mutex
	held    bool // the hold has held its store (holding is closed)
}

// ID returns the hold's ID ("hold-" and 16 hex digits).
func (h *Hold) ID() string { return h.id }

// StoreID returns the ID of the store the hold is on.
func (h *Hold) StoreID() string { return h.storeID }

// Transition returns the transition the hold stops.
func (h *Hold) Transition() Transition { return h.transition }

// Holding reports whether the hold keeps its store in the transient state
// now.
func (h *Hold) Holding() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held && !h.Ended()
}

// Ended reports whether the hold ended: released, or its store deleted,
// its connect abandoned, the service closed.
func (h *Hold) Ended() bool {
	select {
	case <-h.ended:
		return true
	default:
		return false
	}
}

// Wait returns nil once the hold holds its store (at once if it did
// already), ctx's error if ctx ends first, or an error wrapping
// ErrHoldEnded if the hold ended without ever holding.
func (h *Hold) Wait(ctx context.Context) error {
	select {
	case <-h.holding:
		return nil
	case <-h.ended:
		select {
		case <-h.holding:
			return nil
		default:
			return fmt.Errorf("hold %s: %w", h.id, ErrHoldEnded)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release ends the hold: the transition goes on. It is idempotent.
func (h *Hold) Release() {
	h.once.Do(func() {
		close(h.ended)
		h.onEnd(h)
	})
}

// start marks the hold holding.
func (h *Hold) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.held {
		h.held = true
		close(h.holding)
	}
}

// holdKey names the one hold a store may have on a transition.
type holdKey struct {
	storeID    string
	transition Transition
}

// holdRegistry is the service's holds: those not ended by store and
// transition, and every hold (the most recently ended ones too) by ID.
type holdRegistry struct {
	mu     sync.Mutex
	seq    uint64
	active map[holdKey]*Hold
	byID   map[string]*Hold
	ended  []*Hold // oldest first, at most endedHoldsKept
}

// HoldTransition arms a hold on the store's next connect (or disconnect).
// When the store enters CONNECTING (DISCONNECTING) it stays there — the
// connect's work not started, the disconnect not settled — until Release.
// A disconnect during a held connect abandons the connect as usual and
// ends the hold; deleting the store or closing the service ends it too.
// The error wraps ErrStoreNotFound for an unknown store, ErrHoldExists if
// the store has a hold on that transition already, and
// ErrUnknownTransition for a transition that is neither.
func (s *Service) HoldTransition(storeID string, t Transition) (*Hold, error) {
	if t != TransitionConnect && t != TransitionDisconnect {
		return nil, fmt.Errorf("%w %q: use %q or %q", ErrUnknownTransition, t, TransitionConnect, TransitionDisconnect)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.stores[storeID]; !ok {
		return nil, fmt.Errorf("%w: %s", ErrStoreNotFound, storeID)
	}
	r := &s.holdReg
	r.mu.Lock()
	defer r.mu.Unlock()
	key := holdKey{storeID, t}
	if existing, ok := r.active[key]; ok {
		return nil, fmt.Errorf("%w: hold %s on %s of %s", ErrHoldExists, existing.id, t, storeID)
	}
	if s.ctx.Err() != nil {
		return nil, errors.New("the service is closed")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	r.seq++
	h := &Hold{id: "hold-" + hex.EncodeToString(b), seq: r.seq, storeID: storeID, transition: t,
		holding: make(chan struct{}), ended: make(chan struct{}), onEnd: r.retire}
	if r.active == nil {
		r.active, r.byID = map[holdKey]*Hold{}, map[string]*Hold{}
	}
	r.active[key], r.byID[h.id] = h, h
	return h, nil
}

// retire moves a hold that ended from the active ones to the ended ones.
func (r *holdRegistry) retire(h *Hold) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := holdKey{h.storeID, h.transition}
	if r.active[key] == h {
		delete(r.active, key)
	}
	r.ended = append(r.ended, h)
	if len(r.ended) > endedHoldsKept {
		delete(r.byID, r.ended[0].id)
		r.ended = r.ended[1:]
	}
}

// LookupHold returns a hold by ID: one not ended yet, or one of the most
// recently ended.
func (s *Service) LookupHold(id string) (*Hold, bool) {
	r := &s.holdReg
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.byID[id]
	return h, ok
}

// Holds returns the holds not ended yet (armed or holding), oldest first.
func (s *Service) Holds() []*Hold {
	r := &s.holdReg
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Hold, 0, len(r.active))
	for _, h := range r.active {
		if !h.Ended() {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// holdAt is where a connect (disconnect) stops while a hold on it is
// armed: it marks the hold holding and waits until the hold ends or ctx
// does (the connect abandoned, the service closing), which ends the hold.
func (s *Service) holdAt(ctx context.Context, storeID string, t Transition) {
	r := &s.holdReg
	r.mu.Lock()
	h := r.active[holdKey{storeID, t}]
	r.mu.Unlock()
	if h == nil || h.Ended() {
		return
	}
	h.start()
	s.log.Info("custom key store held", "store", storeID, "transition", t, "hold", h.id)
	select {
	case <-h.ended:
	case <-ctx.Done():
		h.Release()
	}
}

// endHolds ends every hold on a store (it was deleted), or on every store
// when storeID is "" (the service closes).
func (s *Service) endHolds(storeID string) {
	r := &s.holdReg
	r.mu.Lock()
	var ending []*Hold
	for key, h := range r.active {
		if storeID == "" || key.storeID == storeID {
			ending = append(ending, h)
		}
	}
	r.mu.Unlock()
	for _, h := range ending {
		h.Release()
	}
}
