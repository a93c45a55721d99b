package softhsm

import (
	"sync"

	"github.com/miekg/pkcs11"
)

// DefaultMaxSessions is CloudHSM's limit of PKCS#11 sessions per application.
// SoftHSM itself has no limit, so the pool enforces it.
const DefaultMaxSessions = 1024

// sessionPool hands out PKCS#11 sessions with exclusive checkout. A SoftHSM
// session has no lock of its own: two goroutines using one session at once
// crash the process, so a session belongs to one caller between acquire and
// release.
type sessionPool struct {
	open  func() (pkcs11.SessionHandle, error)
	close func(pkcs11.SessionHandle)
	max   int

	mu     sync.Mutex
	idle   []pkcs11.SessionHandle
	inUse  int
	closed bool
}

// acquire returns an idle session or opens a new one. It does not wait: when
// max sessions are in use it fails with ErrSessionsExhausted, as CloudHSM does.
func (p *sessionPool) acquire() (pkcs11.SessionHandle, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.inUse++
		p.mu.Unlock()
		return s, nil
	}
	if p.inUse+len(p.idle) >= p.max {
		p.mu.Unlock()
		return 0, ErrSessionsExhausted
	}
	p.inUse++
	p.mu.Unlock()
	s, err := p.open()
	if err != nil {
		p.mu.Lock()
		p.inUse--
		p.mu.Unlock()
		return 0, err
	}
	return s, nil
}

// release gives a session back. A session whose last use failed in a way
// that may leave an operation active, or that broke it, is closed instead.
func (p *sessionPool) release(s pkcs11.SessionHandle, discard bool) {
	p.mu.Lock()
	p.inUse--
	if discard || p.closed {
		p.mu.Unlock()
		p.close(s)
		return
	}
	p.idle = append(p.idle, s)
	p.mu.Unlock()
}

// shutdown closes the idle sessions; sessions in use are closed on release.
func (p *sessionPool) shutdown() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = true
	p.mu.Unlock()
	for _, s := range idle {
		p.close(s)
	}
}
