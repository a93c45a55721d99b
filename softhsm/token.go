package softhsm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// Token is an open, logged-in SoftHSM token: one emulated HSM. It is safe for
// concurrent use; every operation checks out its own PKCS#11 session.
type Token struct {
	module *Module
	label  string
	slot   uint
	// keeper stays open and logged in for the token's lifetime. Closing the
	// last session of a token logs it out and invalidates every private
	// object handle, so the pool's sessions may come and go freely.
	keeper pkcs11.SessionHandle
	pool   *sessionPool

	handlesMu sync.RWMutex
	handles   map[string]pkcs11.ObjectHandle // CKA_ID -> token object
	copies    map[string]pkcs11.ObjectHandle // CKA_ID -> session copy for crypto

	keeperMu sync.Mutex // the keeper session is used by one goroutine at a time

	closeOnce sync.Once
}

// TokenOption changes how OpenToken opens a token.
type TokenOption func(*Token)

// WithMaxSessions sets how many PKCS#11 sessions the token's pool may hold
// (DefaultMaxSessions if not set).
func WithMaxSessions(n int) TokenOption {
	return func(t *Token) {
		if n > 0 {
			t.pool.max = n
		}
	}
}

// OpenToken finds the token by label, logs its user in and returns it.
func (m *Module) OpenToken(label, userPIN string, opts ...TokenOption) (*Token, error) {
	slot, err := m.findSlot(label)
	if err != nil {
		return nil, err
	}
	t := &Token{module: m, label: label, slot: slot, handles: map[string]pkcs11.ObjectHandle{}, copies: map[string]pkcs11.ObjectHandle{}}
	t.pool = &sessionPool{
		max:   DefaultMaxSessions,
		open:  func() (pkcs11.SessionHandle, error) { return t.openSession() },
		close: func(s pkcs11.SessionHandle) { _ = m.ctx.CloseSession(s) },
	}
	for _, opt := range opts {
		opt(t)
	}
	keeper, err := t.openSession()
	if err != nil {
		return nil, err
	}
	if err := m.ctx.Login(keeper, pkcs11.CKU_USER, userPIN); err != nil && ckr(err) != pkcs11.CKR_USER_ALREADY_LOGGED_IN {
		_ = m.ctx.CloseSession(keeper)
		return nil, fmt.Errorf("log in to token %q: %w", label, err)
	}
	t.keeper = keeper
	return t, nil
}

func (t *Token) openSession() (pkcs11.SessionHandle, error) {
	s, err := t.module.ctx.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("open session on token %q: %w", t.label, err)
	}
	return s, nil
}

// Label returns the token's label.
func (t *Token) Label() string { return t.label }

// Close logs out and closes every session of the token.
func (t *Token) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.pool.shutdown()
		t.keeperMu.Lock()
		defer t.keeperMu.Unlock()
		_ = t.module.ctx.Logout(t.keeper)
		err = t.module.ctx.CloseSession(t.keeper)
	})
	return err
}

// withSession runs fn with an exclusively checked-out session. A session
// whose operation failed is closed rather than reused, so that no half-done
// PKCS#11 operation leaks into the next caller.
func (t *Token) withSession(fn func(s pkcs11.SessionHandle) error) error {
	s, err := t.pool.acquire()
	if err != nil {
		return err
	}
	err = fn(s)
	t.pool.release(s, err != nil && !errors.Is(err, ErrKeyNotFound))
	return err
}

// withKey runs fn with the handle of the key object whose CKA_ID is id,
// looking it up once and caching it. If the cached handle went stale (after
// a re-login SoftHSM renumbers private objects) it is looked up again once.
func (t *Token) withKey(s pkcs11.SessionHandle, id string, fn func(h pkcs11.ObjectHandle) error) error {
	return t.retryStale(s, id, t.keyHandle, fn)
}

// retryStale runs fn with the handle lookup gives for id; if the handle
// turns out stale, it forgets the cached handles and tries once more.
func (t *Token) retryStale(s pkcs11.SessionHandle, id string, lookup func(pkcs11.SessionHandle, string) (pkcs11.ObjectHandle, error), fn func(h pkcs11.ObjectHandle) error) error {
	for attempt := 0; ; attempt++ {
		h, err := lookup(s, id)
		if err != nil {
			return err
		}
		err = fn(h)
		if attempt == 0 && handleStale(err) {
			t.forget(id)
			continue
		}
		return err
	}
}

func (t *Token) keyHandle(s pkcs11.SessionHandle, id string) (pkcs11.ObjectHandle, error) {
	t.handlesMu.RLock()
	h, ok := t.handles[id]
	t.handlesMu.RUnlock()
	if ok {
		return h, nil
	}
	found, err := t.findObjects(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)),
	})
	if err != nil {
		return 0, err
	}
	if len(found) == 0 {
		return 0, fmt.Errorf("key %q: %w", id, ErrKeyNotFound)
	}
	t.handlesMu.Lock()
	t.handles[id] = found[0]
	t.handlesMu.Unlock()
	return found[0], nil
}

func (t *Token) forget(id string) {
	t.handlesMu.Lock()
	delete(t.handles, id)
	delete(t.copies, id)
	t.handlesMu.Unlock()
}

// withCryptoKey is withKey for encryption and decryption: it uses a session
// copy of the key (CKA_TOKEN=false), made once on the keeper session. SoftHSM
// re-reads a token object's files on every use; a session object lives in
// memory, which doubles AES-GCM throughput. The copy is as sensitive and
// non-extractable as the original and disappears with the keeper session.
func (t *Token) withCryptoKey(s pkcs11.SessionHandle, id string, fn func(h pkcs11.ObjectHandle) error) error {
	return t.retryStale(s, id, t.copyHandle, fn)
}

func (t *Token) copyHandle(s pkcs11.SessionHandle, id string) (pkcs11.ObjectHandle, error) {
	t.handlesMu.RLock()
	h, ok := t.copies[id]
	t.handlesMu.RUnlock()
	if ok {
		return h, nil
	}
	orig, err := t.keyHandle(s, id)
	if err != nil {
		return 0, err
	}
	t.keeperMu.Lock()
	h, err = t.module.ctx.CopyObject(t.keeper, orig, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
	t.keeperMu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("copy key %q into the session: %w", id, err)
	}
	t.handlesMu.Lock()
	defer t.handlesMu.Unlock()
	if existing, ok := t.copies[id]; ok {
		// Another goroutine made one meanwhile; keep one copy.
		t.keeperMu.Lock()
		_ = t.module.ctx.DestroyObject(t.keeper, h)
		t.keeperMu.Unlock()
		return existing, nil
	}
	t.copies[id] = h
	return h, nil
}

func (t *Token) findObjects(s pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	ctx := t.module.ctx
	if err := ctx.FindObjectsInit(s, template); err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		batch, _, err := ctx.FindObjects(s, 256)
		if err != nil {
			_ = ctx.FindObjectsFinal(s)
			return nil, fmt.Errorf("find objects: %w", err)
		}
		all = append(all, batch...)
		if len(batch) < 256 {
			break
		}
	}
	if err := ctx.FindObjectsFinal(s); err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	return all, nil
}
