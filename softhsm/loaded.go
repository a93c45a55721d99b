package softhsm

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// WrappedKeys is where a token finds the keys it does not hold loaded: the
// owner of the token keeps every key in the wrapped form GenerateKey gives.
type WrappedKeys interface {
	// WrappedKey returns the key's wrapped form and label, or an error
	// matching ErrKeyNotFound.
	WrappedKey(id string) (wrapped []byte, label string, err error)
}

// DefaultMaxLoadedKeys is how many keys a token with a key source keeps
// loaded: SoftHSM spends about 9 KB of memory on each.
const DefaultMaxLoadedKeys = 1024

// WithKeySource makes the token load keys from source when they are used,
// unwrapping them with its trusted key wrappingID, and keep at most max
// loaded (DefaultMaxLoadedKeys if max is 0): when more are, the least
// recently used key that no operation is using is unloaded.
func WithKeySource(wrappingID string, source WrappedKeys, max int) TokenOption {
	return func(t *Token) {
		t.wrappingID, t.source = wrappingID, source
		if max <= 0 {
			max = DefaultMaxLoadedKeys
		}
		t.loaded.max = max
	}
}

// loadedKey is a key held by the keeper session.
type loadedKey struct {
	id     string
	handle pkcs11.ObjectHandle
	refs   int           // operations using the handle now
	doomed bool          // deleted while in use: the last release destroys it
	elem   *list.Element // place in the recency list
}

// loadedKeys are the keys a token holds, with how recently each was used.
type loadedKeys struct {
	mu   sync.Mutex
	byID map[string]*loadedKey
	lru  list.List // of *loadedKey, most recently used first
	max  int       // 0: no limit
}

// pin returns the loaded key id marked as in use, or nil.
func (l *loadedKeys) pin(id string) *loadedKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.byID[id]
	if k == nil {
		return nil
	}
	k.refs++
	l.lru.MoveToFront(k.elem)
	return k
}

func (l *loadedKeys) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id] != nil
}

// add records a key just loaded, with refs uses, and returns the handles
// of the idle keys unloaded to stay within max (the caller destroys them).
func (l *loadedKeys) add(id string, h pkcs11.ObjectHandle, refs int) (*loadedKey, []pkcs11.ObjectHandle) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := &loadedKey{id: id, handle: h, refs: refs}
	k.elem = l.lru.PushFront(k)
	l.byID[id] = k
	var evicted []pkcs11.ObjectHandle
	for e := l.lru.Back(); e != nil && l.max > 0 && len(l.byID) > l.max; {
		victim := e.Value.(*loadedKey)
		e = e.Prev()
		if victim.refs > 0 {
			continue
		}
		l.lru.Remove(victim.elem)
		delete(l.byID, victim.id)
		evicted = append(evicted, victim.handle)
	}
	return k, evicted
}

// remove forgets the key id; it returns its handle if no operation uses it
// (the caller destroys it), or marks it for the last release to destroy.
func (l *loadedKeys) remove(id string) (h pkcs11.ObjectHandle, destroyNow, found bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.byID[id]
	if k == nil {
		return 0, false, false
	}
	delete(l.byID, id)
	l.lru.Remove(k.elem)
	if k.refs > 0 {
		k.doomed = true
		return 0, false, true
	}
	return k.handle, true, true
}

// unpin ends one use of k; it reports whether k must now be destroyed.
func (l *loadedKeys) unpin(k *loadedKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k.refs--
	return k.doomed && k.refs == 0
}

func (l *loadedKeys) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byID)
}

// acquire returns the loaded key id, in use until release, loading it from
// the key source if the token does not hold it.
func (t *Token) acquire(id string) (*loadedKey, error) {
	if k := t.loaded.pin(id); k != nil {
		return k, nil
	}
	if t.source == nil {
		return nil, fmt.Errorf("key %q: %w", id, ErrKeyNotFound)
	}
	wrapped, label, err := t.source.WrappedKey(id)
	if err != nil {
		return nil, err
	}
	var k *loadedKey
	err = t.withKeeper(func(s pkcs11.SessionHandle) error {
		if k = t.loaded.pin(id); k != nil {
			return nil // loaded by another caller meanwhile
		}
		h, err := t.unwrap(s, t.wrappingID, wrapped, KeyOptions{ID: id, Label: label})
		if err != nil {
			return err
		}
		var evicted []pkcs11.ObjectHandle
		k, evicted = t.loaded.add(id, h, 1)
		t.destroy(s, evicted...)
		return nil
	})
	return k, err
}

// release ends the use of a key that acquire returned.
func (t *Token) release(k *loadedKey) {
	if t.loaded.unpin(k) {
		_ = t.withKeeper(func(s pkcs11.SessionHandle) error { t.destroy(s, k.handle); return nil })
	}
}

// hold records a key just made on the keeper session s as loaded.
func (t *Token) hold(s pkcs11.SessionHandle, id string, h pkcs11.ObjectHandle) {
	_, evicted := t.loaded.add(id, h, 0)
	t.destroy(s, evicted...)
}

// destroy destroys key objects of the keeper session s.
func (t *Token) destroy(s pkcs11.SessionHandle, handles ...pkcs11.ObjectHandle) {
	for _, h := range handles {
		_ = t.module.ctx.DestroyObject(s, h)
	}
}
