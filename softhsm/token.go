package softhsm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// Token is an open, logged-in SoftHSM token: one emulated HSM. It is safe for
// concurrent use; every operation checks out its own PKCS#11 session.
//
// The token's own keys (the trusted and sealing keys made with it) are token
// objects. Every other key is a session object held by the keeper session:
// it lives in memory, and the caller keeps it durable as the wrapped blob
// GenerateKey returns, to load it again (LoadKey, or on demand from a key
// source: WithKeySource) after a restart. SoftHSM
// 2.6.1's file object store cannot create token objects from several threads
// at once (OSToken::createObject writes the object's file before it
// registers the object, racing OSToken::index on other threads: creations
// fail with CKR_GENERAL_ERROR or leave a copy without its attributes), and
// every token object it holds makes each later creation slower; session
// objects have neither problem.
type Token struct {
	module *Module
	label  string
	slot   uint
	// keeper stays open and logged in for the token's lifetime and holds
	// every loaded key. Closing the last session of a token logs it out and
	// invalidates every private object handle, so the pool's sessions may
	// come and go freely.
	keeper   pkcs11.SessionHandle
	keeperMu sync.Mutex // the keeper session is used by one goroutine at a time
	pool     *sessionPool

	handlesMu sync.RWMutex
	own       map[string]pkcs11.ObjectHandle // CKA_ID -> the token's own (token object) keys

	loaded     loadedKeys  // keys held as session objects of the keeper
	source     WrappedKeys // where keys not loaded are found (nil: nowhere)
	wrappingID string      // the trusted key that unwraps the source's keys

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
	t := &Token{module: m, label: label, slot: slot, own: map[string]pkcs11.ObjectHandle{}, loaded: loadedKeys{byID: map[string]*loadedKey{}}}
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

// withOwnKey runs fn with the handle of the token's own key (a trusted or
// sealing key) whose CKA_ID is id, looked up once and cached. If the cached
// handle went stale (after a re-login SoftHSM renumbers private objects) it
// is looked up again once.
func (t *Token) withOwnKey(s pkcs11.SessionHandle, id string, fn func(h pkcs11.ObjectHandle) error) error {
	for attempt := 0; ; attempt++ {
		h, err := t.ownKeyHandle(s, id)
		if err != nil {
			return err
		}
		err = fn(h)
		if attempt == 0 && handleStale(err) {
			t.handlesMu.Lock()
			delete(t.own, id)
			t.handlesMu.Unlock()
			continue
		}
		return err
	}
}

func (t *Token) ownKeyHandle(s pkcs11.SessionHandle, id string) (pkcs11.ObjectHandle, error) {
	t.handlesMu.RLock()
	h, ok := t.own[id]
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
	t.own[id] = found[0]
	t.handlesMu.Unlock()
	return found[0], nil
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
