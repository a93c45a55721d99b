package hsmclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
)

// DefaultAttemptTimeout bounds one call to one HSM before Cluster moves on
// to the next, so a hung HSM costs seconds, not minutes.
const DefaultAttemptTimeout = 2 * time.Second

// DefaultKeySyncTimeout bounds the copy of a new key to an HSM that the key
// availability quorum needs: a busy HSM may take longer than an attempt to
// answer, and there is no other HSM to copy to instead.
const DefaultKeySyncTimeout = 15 * time.Second

// Cluster is the HSMs of one cluster, each reached through a Conn logged in
// as the same user. Crypto calls go round-robin and fail over to the next
// HSM when one does not answer; key creation copies the new key to every HSM,
// as the CloudHSM client does.
type Cluster struct {
	// AttemptTimeout bounds each call to one HSM (DefaultAttemptTimeout if 0).
	AttemptTimeout time.Duration
	// KeySyncTimeout bounds the copies of a new key that the key
	// availability quorum needs (DefaultKeySyncTimeout if 0; never less
	// than AttemptTimeout).
	KeySyncTimeout time.Duration

	mu     sync.RWMutex
	conns  []*Conn
	closed bool
	next   atomic.Uint64
}

// NewCluster returns a Cluster over conns.
func NewCluster(conns ...*Conn) *Cluster {
	return &Cluster{conns: conns}
}

// Conns returns the connections whose HSM is still reachable.
func (cl *Cluster) Conns() []*Conn {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	live := make([]*Conn, 0, len(cl.conns))
	for _, c := range cl.conns {
		if c.alive() {
			live = append(live, c)
		}
	}
	return live
}

// all returns every connection, live or not, without copying: the slice is
// never changed in place (Add makes a new one).
func (cl *Cluster) all() []*Conn {
	cl.mu.RLock()
	defer cl.mu.RUnlock()
	return cl.conns
}

// Add puts a connection (to an HSM the cluster did not reach) in the
// rotation, replacing a dead connection to the same HSM. It returns false,
// leaving c to the caller (to release or close), if the cluster is closed
// or already has a live connection to that HSM.
func (cl *Cluster) Add(c *Conn) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return false
	}
	kept := make([]*Conn, 0, len(cl.conns)+1)
	for _, old := range cl.conns {
		if old.HSMID() == c.HSMID() {
			if old.alive() {
				return false
			}
			continue // a dead connection to the same HSM goes
		}
		kept = append(kept, old)
	}
	cl.conns = append(kept, c)
	return true
}

// Reaches reports whether the cluster has a live connection to the HSM.
func (cl *Cluster) Reaches(hsmID string) bool {
	for _, c := range cl.Conns() {
		if c.HSMID() == hsmID {
			return true
		}
	}
	return false
}

// Close closes every connection.
func (cl *Cluster) Close() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.closed = true
	for _, c := range cl.conns {
		_ = c.Close()
	}
}

// Release logs out of every HSM at once, each within the attempt timeout,
// and closes the cluster: when it returns nil, no HSM counts the user as
// logged in through it any more (see Conn.Release).
func (cl *Cluster) Release(ctx context.Context) error {
	cl.mu.Lock()
	cl.closed = true
	conns := cl.conns
	cl.mu.Unlock()
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, cl.attemptTimeout())
			defer cancel()
			errs[i] = c.Release(actx)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (cl *Cluster) keySyncTimeout() time.Duration {
	if cl.KeySyncTimeout > 0 {
		return max(cl.KeySyncTimeout, cl.attemptTimeout())
	}
	return max(DefaultKeySyncTimeout, cl.attemptTimeout())
}

func (cl *Cluster) attemptTimeout() time.Duration {
	if cl.AttemptTimeout > 0 {
		return cl.AttemptTimeout
	}
	return DefaultAttemptTimeout
}

// ErrNoHSM means no HSM of the cluster could be reached.
var ErrNoHSM = errors.New("no HSM of the cluster is reachable")

// ErrTooFewHSMs means fewer HSMs are reachable than a new key must be on.
var ErrTooFewHSMs = errors.New("too few HSMs of the cluster are reachable")

// failover runs fn on one HSM after another, starting round-robin, until an
// HSM answers; fn bounds its call to one HSM by timeout. An HSM's answer is
// final, except "key not found" (the key may not have reached that HSM
// yet), which moves on like an unreachable HSM.
func (cl *Cluster) failover(ctx context.Context, fn func(ctx context.Context, timeout time.Duration, c *Conn) error) error {
	all := cl.all()
	start := int(cl.next.Add(1))
	timeout := cl.attemptTimeout()
	var errs []error
	tried := 0
	for i := range all {
		c := all[(start+i)%len(all)]
		if !c.alive() {
			continue
		}
		tried++
		err := fn(ctx, timeout, c)
		if err == nil {
			return nil
		}
		var we *hsmwire.Error
		if errors.As(err, &we) && !errors.Is(err, hsmwire.ErrKeyNotFound) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.HSMID(), err))
	}
	if tried == 0 {
		return ErrNoHSM
	}
	if len(errs) == 1 || allKeyNotFound(errs) {
		return errs[0]
	}
	return fmt.Errorf("%w: %w", ErrNoHSM, errors.Join(errs...))
}

func allKeyNotFound(errs []error) bool {
	for _, e := range errs {
		if !errors.Is(e, hsmwire.ErrKeyNotFound) {
			return false
		}
	}
	return true
}

// Encrypt encrypts on one HSM, failing over to the others.
func (cl *Cluster) Encrypt(ctx context.Context, keyID string, plaintext, aad []byte) (iv, ciphertext []byte, err error) {
	err = cl.failover(ctx, func(ctx context.Context, timeout time.Duration, c *Conn) error {
		resp, err := c.callWithin(ctx, timeout, &hsmwire.Request{Op: hsmwire.OpEncrypt, KeyID: keyID, Data: plaintext, AAD: aad})
		if err == nil {
			iv, ciphertext = resp.IV, resp.Data
		}
		return err
	})
	return iv, ciphertext, err
}

// Decrypt decrypts on one HSM, failing over to the others.
func (cl *Cluster) Decrypt(ctx context.Context, keyID string, iv, ciphertext, aad []byte) (plaintext []byte, err error) {
	err = cl.failover(ctx, func(ctx context.Context, timeout time.Duration, c *Conn) error {
		resp, err := c.callWithin(ctx, timeout, &hsmwire.Request{Op: hsmwire.OpDecrypt, KeyID: keyID, IV: iv, Data: ciphertext, AAD: aad})
		if err == nil {
			plaintext = resp.Data
		}
		return err
	})
	return plaintext, err
}

// GenerateRandom draws random bytes from one HSM, failing over.
func (cl *Cluster) GenerateRandom(ctx context.Context, n int) (out []byte, err error) {
	if n < 0 || n > 1<<31 {
		return nil, &hsmwire.Error{Status: hsmwire.StatusBadRequest, Message: "random length out of range"}
	}
	err = cl.failover(ctx, func(ctx context.Context, timeout time.Duration, c *Conn) error {
		resp, err := c.callWithin(ctx, timeout, &hsmwire.Request{Op: hsmwire.OpGenerateRandom, Count: uint32(n)})
		if err == nil {
			out = resp.Data
		}
		return err
	})
	return out, err
}

// MinKeyAvailability is on how many HSMs a new key must be before it is
// used: the CloudHSM client's key availability quorum (or every HSM, when
// the cluster has fewer).
const MinKeyAvailability = 2

// GenerateKey creates a key on one HSM and copies it, masked, to every other
// reachable HSM. It fails (and deletes the key again) unless the key reached
// MinKeyAvailability HSMs, or all clusterSize HSMs of a smaller cluster.
// The quorum comes from the cluster's size (its ACTIVE HSMs), which the
// caller knows, not from the HSMs reachable now: right after an HSM comes
// back its connection may not be re-established yet, and a key made without
// it would be lost with the one HSM that has it. With fewer HSMs reachable
// than the quorum, it fails at once with ErrTooFewHSMs and creates nothing.
func (cl *Cluster) GenerateKey(ctx context.Context, label string, clusterSize int) (string, error) {
	conns := cl.Conns()
	quorum := max(1, min(MinKeyAvailability, clusterSize))
	if len(conns) < quorum {
		return "", fmt.Errorf("%w: a new key must be on %d, %d are", ErrTooFewHSMs, quorum, len(conns))
	}
	var keyID string
	var origin *Conn
	var blob []byte
	err := cl.failover(ctx, func(ctx context.Context, timeout time.Duration, c *Conn) error {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		id, masked, err := c.generateKey(actx, label)
		keyID, origin, blob = id, c, masked
		return err
	})
	if err != nil {
		return "", err
	}
	if len(blob) == 0 { // a node that does not send the masked key with it
		if blob, err = origin.ExportKey(ctx, keyID); err != nil {
			_ = origin.DeleteKey(ctx, keyID)
			return "", fmt.Errorf("copy new key: %w", err)
		}
	}
	others := make([]*Conn, 0, len(conns)-1)
	for _, c := range conns {
		if c != origin {
			others = append(others, c)
		}
	}
	placed, errs := cl.copyKey(ctx, blob, others, quorum-1)
	if placed+1 < quorum {
		cl.DeleteKey(ctx, keyID)
		return "", fmt.Errorf("new key reached %d HSMs, fewer than %d: %w", placed+1, quorum, errors.Join(errs...))
	}
	return keyID, nil
}

// copyKey imports a new key's masked blob into every HSM of others at once
// and returns on how many it landed. The copies the key availability quorum
// needs (need of them) may take up to the key sync timeout: a copy has no
// other HSM to fail over to, so giving up on a slow HSM after the attempt
// timeout would fail the creation although the HSM would have taken the
// key. Once the quorum is reached, the other copies get the attempt timeout
// (from the start of the copies) and are not waited for after it; a key
// that is missing on an HSM is looked for on the others.
func (cl *Cluster) copyKey(ctx context.Context, blob []byte, others []*Conn, need int) (placed int, errs []error) {
	sctx, cancel := context.WithTimeout(ctx, cl.keySyncTimeout())
	defer cancel()
	results := make(chan error, len(others))
	for _, c := range others {
		go func() {
			_, err := c.ImportKey(sctx, blob)
			if err != nil {
				err = fmt.Errorf("%s: %w", c.HSMID(), err)
			}
			results <- err
		}()
	}
	grace := time.NewTimer(cl.attemptTimeout())
	defer grace.Stop()
	graceOver := false
	for pending := len(others); pending > 0 && !(graceOver && placed >= need); {
		select {
		case err := <-results:
			pending--
			if err != nil {
				errs = append(errs, err)
				continue
			}
			placed++
		case <-grace.C:
			graceOver = true
		}
	}
	return placed, errs
}

// DeleteKey deletes a key from every reachable HSM and reports the outcome
// per HSM ID (nil for success), like KMS's backing-key deletion status.
func (cl *Cluster) DeleteKey(ctx context.Context, keyID string) map[string]error {
	return cl.each(ctx, func(ctx context.Context, c *Conn) error { return c.DeleteKey(ctx, keyID) })
}

// each runs fn on every reachable HSM at once and collects the outcomes.
func (cl *Cluster) each(ctx context.Context, fn func(ctx context.Context, c *Conn) error) map[string]error {
	conns := cl.Conns()
	out := make(map[string]error, len(conns))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, cl.attemptTimeout())
			err := fn(actx, c)
			cancel()
			mu.Lock()
			out[c.HSMID()] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// joinResults turns per-HSM outcomes into one error (nil if all succeeded).
func joinResults(results map[string]error) error {
	var errs []error
	for id, err := range results {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// CreateUser creates a user on every reachable HSM (crypto officer).
func (cl *Cluster) CreateUser(ctx context.Context, user, role, password string) error {
	return joinResults(cl.each(ctx, func(ctx context.Context, c *Conn) error { return c.CreateUser(ctx, user, role, password) }))
}

// ChangePassword changes a password on every reachable HSM.
func (cl *Cluster) ChangePassword(ctx context.Context, user, newPassword string) error {
	return joinResults(cl.each(ctx, func(ctx context.Context, c *Conn) error { return c.ChangePassword(ctx, user, newPassword) }))
}

// DeleteUser deletes a user on every reachable HSM (crypto officer).
func (cl *Cluster) DeleteUser(ctx context.Context, user string) error {
	return joinResults(cl.each(ctx, func(ctx context.Context, c *Conn) error { return c.DeleteUser(ctx, user) }))
}
