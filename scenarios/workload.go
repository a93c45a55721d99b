package scenarios

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// client runs one client of a workload entry from its start to its end (or
// the run's), at its share of the entry's rate, with think times and every
// choice drawn from its own seeded stream.
func (r *run) client(ctx context.Context, stop <-chan struct{}, start time.Time, wi, ci int) {
	w := r.scenario.Workload[wi]
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * r.plan.Scale) }
	from, to := scale(w.From), scale(w.To)
	if w.To == 0 {
		to = r.plan.Duration
	}
	c := &workloadClient{run: r, stop: stop, w: w, index: ci,
		p:   &process{name: fmt.Sprintf("client-%d.%d", wi, ci), workload: w.Op, phase: phaseRun},
		rng: rand.New(rand.NewPCG(r.plan.Seed, uint64(wi+1)<<32|uint64(ci)))}
	if !c.sleepUntil(start.Add(from)) {
		return
	}
	var interval time.Duration
	if w.Rate > 0 {
		interval = time.Duration(float64(w.Clients) / w.Rate * float64(time.Second))
	}
	next := time.Now()
	for time.Since(start) < to && !c.stopped() && ctx.Err() == nil {
		if interval > 0 {
			// A think time of the client's share of the rate, ±20 %.
			next = next.Add(time.Duration(float64(interval) * (0.8 + 0.4*c.rng.Float64())))
			if behind := time.Since(next); behind > interval {
				next = time.Now()
			}
			if !c.sleepUntil(next) {
				return
			}
		}
		c.once(ctx)
	}
}

// workloadClient is one client of a workload entry.
type workloadClient struct {
	run   *run
	stop  <-chan struct{}
	w     Workload
	index int
	p     *process
	rng   *rand.Rand
	calls int
}

func (c *workloadClient) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// sleepUntil waits until t; false when the run stopped meanwhile.
func (c *workloadClient) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return !c.stopped()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-c.stop:
		return false
	}
}

// store draws the store a call acts on.
func (c *workloadClient) store() *runStore {
	if c.w.Store != nil {
		return c.run.stores[*c.w.Store]
	}
	return c.run.stores[c.rng.IntN(len(c.run.stores))]
}

// key draws a setup key of the store.
func (c *workloadClient) key(st *runStore) string { return st.keys[c.rng.IntN(len(st.keys))] }

// once makes one call (or one sequence of calls) of the client's operation.
func (c *workloadClient) once(ctx context.Context) {
	r, p := c.run, c.p
	c.calls++
	switch c.w.Op {
	case "encrypt":
		st := c.store()
		r.encrypt(ctx, p, st, c.key(st), randomBytes(c.rng, 32))
	case "decrypt":
		st := c.store()
		if ct := st.pickCiphertext(c.rng.Uint64()); ct != nil {
			r.decrypt(ctx, p, st, ct)
		}
	case "re-encrypt":
		st := c.store()
		if ct := st.pickCiphertext(c.rng.Uint64()); ct != nil {
			r.reEncrypt(ctx, p, st, ct, c.key(st))
		}
	case "generate-data-key":
		st := c.store()
		r.generateDataKey(ctx, p, st, c.key(st), true)
	case "generate-data-key-without-plaintext":
		st := c.store()
		r.generateDataKey(ctx, p, st, c.key(st), false)
	case "generate-random":
		st := c.store()
		r.do(ctx, p, Operation{Call: callGenerateRandom, Store: st.id}, func(ctx context.Context, _ *Operation) error {
			_, err := r.kms.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32), CustomKeyStoreId: aws.String(st.id)})
			return err
		})
	case "create-key":
		st := c.store()
		if op := r.createKey(ctx, p, st); op.isOK() {
			st.mu.Lock()
			st.created = append(st.created, op.Key)
			st.mu.Unlock()
		}
	case "describe-key":
		st := c.store()
		r.describeKey(ctx, p, st, c.key(st))
	case "enable-key", "disable-key":
		st := c.store()
		key := c.key(st)
		call := callEnableKey
		if c.w.Op == "disable-key" {
			call = callDisableKey
		}
		r.do(ctx, p, Operation{Call: call, Store: st.id, Key: key}, func(ctx context.Context, _ *Operation) error {
			var err error
			if call == callEnableKey {
				_, err = r.kms.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(key)})
			} else {
				_, err = r.kms.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(key)})
			}
			return err
		})
	case "describe":
		r.describeStore(ctx, p, c.store().id)
	case "connect":
		r.connectStore(ctx, p, c.store().id)
	case "disconnect":
		r.disconnectStore(ctx, p, c.store().id)
	case "rename":
		st := c.store()
		name := fmt.Sprintf("chaos-%s-%d-%s-%d", r.id, st.index, p.name, c.calls)
		r.updateStore(ctx, p, st.id, Operation{NewName: name}, &kms.UpdateCustomKeyStoreInput{NewCustomKeyStoreName: aws.String(name)})
	case "update-password":
		r.wrongPassword(ctx, p, c.store().id, c.rng)
	case "reconnect":
		id := c.store().id
		r.disconnectStore(ctx, p, id)
		if r.waitState(ctx, p, c.stop, id, stateDisconnected) {
			r.connectStore(ctx, p, id)
			r.waitConnectEnd(ctx, p, id, c.waitLimit(), c.stop)
		}
	case "wrong-password-reconnect":
		id := c.store().id
		r.disconnectStore(ctx, p, id)
		if r.waitState(ctx, p, c.stop, id, stateDisconnected) {
			r.wrongPassword(ctx, p, id, c.rng)
			r.connectStore(ctx, p, id)
			r.waitConnectEnd(ctx, p, id, c.waitLimit(), c.stop)
		}
	case "interrupted-connect":
		id := c.store().id
		r.connectStore(ctx, p, id)
		c.sleepUntil(time.Now().Add(time.Duration(c.rng.IntN(300)) * time.Millisecond))
		r.disconnectStore(ctx, p, id)
		if r.waitState(ctx, p, c.stop, id, stateDisconnected) {
			r.connectStore(ctx, p, id)
			r.waitConnectEnd(ctx, p, id, c.waitLimit(), c.stop)
		}
	case "fresh-store-connect", "create-store-twice", "connect-delete-race":
		c.lifecycle(ctx)
	}
}

// waitLimit bounds how long a client waits for a connect to end.
func (c *workloadClient) waitLimit() time.Duration { return 3 * c.run.scenario.OpTimeout }

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// produce makes a call that answers a ciphertext under op.Key; an
// acknowledged one joins the store's pool. op.Plaintext is the digest of
// what the call encrypts when the run knows it; call returns the
// plaintext when the answer brings it.
func (r *run) produce(ctx context.Context, p *process, st *runStore, op Operation,
	call func(ctx context.Context) (ciphertext, plaintext []byte, err error)) *Operation {
	var blob []byte
	done := r.do(ctx, p, op, func(ctx context.Context, op *Operation) error {
		ciphertext, plaintext, err := call(ctx)
		if err == nil {
			blob = ciphertext
			op.Ciphertext = digest(ciphertext)
			if plaintext != nil {
				op.Plaintext = digest(plaintext)
			}
		}
		return err
	})
	if done.isOK() {
		st.addCiphertext(&cipherEntry{blob: blob, key: done.Key, plaintext: done.Plaintext, producer: done.ID})
	}
	return done
}

// encrypt encrypts plaintext under key.
func (r *run) encrypt(ctx context.Context, p *process, st *runStore, key string, plaintext []byte) *Operation {
	return r.produce(ctx, p, st, Operation{Call: callEncrypt, Store: st.id, Key: key, Plaintext: digest(plaintext)},
		func(ctx context.Context) ([]byte, []byte, error) {
			out, err := r.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: plaintext, EncryptionContext: r.encryptionContext})
			if err != nil {
				return nil, nil, err
			}
			return out.CiphertextBlob, nil, nil
		})
}

// decrypt decrypts an acknowledged ciphertext, naming its key.
func (r *run) decrypt(ctx context.Context, p *process, st *runStore, ct *cipherEntry) *Operation {
	return r.do(ctx, p, Operation{Call: callDecrypt, Store: st.id, Key: ct.key, Ciphertext: digest(ct.blob), Source: ct.producer},
		func(ctx context.Context, op *Operation) error {
			out, err := r.kms.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(ct.key), CiphertextBlob: ct.blob, EncryptionContext: r.encryptionContext})
			if err == nil {
				op.Plaintext = digest(out.Plaintext)
			}
			return err
		})
}

// reEncrypt re-encrypts an acknowledged ciphertext under key: the new
// ciphertext has the same plaintext.
func (r *run) reEncrypt(ctx context.Context, p *process, st *runStore, ct *cipherEntry, key string) *Operation {
	return r.produce(ctx, p, st, Operation{Call: callReEncrypt, Store: st.id, Key: key, Source: ct.producer, Plaintext: ct.plaintext},
		func(ctx context.Context) ([]byte, []byte, error) {
			out, err := r.kms.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: ct.blob, SourceKeyId: aws.String(ct.key), DestinationKeyId: aws.String(key),
				SourceEncryptionContext: r.encryptionContext, DestinationEncryptionContext: r.encryptionContext})
			if err != nil {
				return nil, nil, err
			}
			return out.CiphertextBlob, nil, nil
		})
}

// generateDataKey makes a data key under key (its plaintext known when
// the call returns it).
func (r *run) generateDataKey(ctx context.Context, p *process, st *runStore, key string, withPlaintext bool) *Operation {
	if withPlaintext {
		return r.produce(ctx, p, st, Operation{Call: callGenerateDataKey, Store: st.id, Key: key}, func(ctx context.Context) ([]byte, []byte, error) {
			out, err := r.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256,
				EncryptionContext: r.encryptionContext})
			if err != nil {
				return nil, nil, err
			}
			return out.CiphertextBlob, out.Plaintext, nil
		})
	}
	return r.produce(ctx, p, st, Operation{Call: callGenerateDataKeyWithoutPlaintext, Store: st.id, Key: key}, func(ctx context.Context) ([]byte, []byte, error) {
		out, err := r.kms.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(key),
			KeySpec: types.DataKeySpecAes256, EncryptionContext: r.encryptionContext})
		if err != nil {
			return nil, nil, err
		}
		return out.CiphertextBlob, nil, nil
	})
}

// createKey makes a CloudHSM key in the store.
func (r *run) createKey(ctx context.Context, p *process, st *runStore) *Operation {
	return r.do(ctx, p, Operation{Call: callCreateKey, Store: st.id}, func(ctx context.Context, op *Operation) error {
		out, err := r.kms.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(st.id),
			Description: aws.String("kmsharness chaos " + r.id)})
		if err == nil && out.KeyMetadata != nil {
			op.Key = aws.ToString(out.KeyMetadata.KeyId)
		}
		return err
	})
}

// describeKey reads a key's state.
func (r *run) describeKey(ctx context.Context, p *process, st *runStore, key string) *Operation {
	return r.do(ctx, p, Operation{Call: callDescribeKey, Store: st.id, Key: key}, func(ctx context.Context, op *Operation) error {
		out, err := r.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
		if err == nil && out.KeyMetadata != nil {
			op.KeyState = string(out.KeyMetadata.KeyState)
		}
		return err
	})
}

// describeStore reads a store's state, error code, name and cluster.
func (r *run) describeStore(ctx context.Context, p *process, id string) *Operation {
	return r.do(ctx, p, Operation{Call: callDescribeStores, Store: id}, func(ctx context.Context, op *Operation) error {
		out, err := r.kms.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
		if err == nil {
			for _, e := range out.CustomKeyStores {
				if aws.ToString(e.CustomKeyStoreId) == id {
					op.State, op.ErrorCode = string(e.ConnectionState), string(e.ConnectionErrorCode)
					op.Name, op.Cluster = aws.ToString(e.CustomKeyStoreName), aws.ToString(e.CloudHsmClusterId)
				}
			}
		}
		return err
	})
}

func (r *run) connectStore(ctx context.Context, p *process, id string) *Operation {
	return r.do(ctx, p, Operation{Call: callConnect, Store: id}, func(ctx context.Context, _ *Operation) error {
		_, err := r.kms.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	})
}

func (r *run) disconnectStore(ctx context.Context, p *process, id string) *Operation {
	return r.do(ctx, p, Operation{Call: callDisconnect, Store: id}, func(ctx context.Context, _ *Operation) error {
		_, err := r.kms.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	})
}

func (r *run) deleteStore(ctx context.Context, p *process, id string) *Operation {
	return r.do(ctx, p, Operation{Call: callDeleteStore, Store: id}, func(ctx context.Context, _ *Operation) error {
		_, err := r.kms.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	})
}

// updateStore makes an UpdateCustomKeyStore call; op says what it sets
// (never a password's value).
func (r *run) updateStore(ctx context.Context, p *process, id string, op Operation, in *kms.UpdateCustomKeyStoreInput) *Operation {
	op.Call, op.Store = callUpdateStore, id
	in.CustomKeyStoreId = aws.String(id)
	return r.do(ctx, p, op, func(ctx context.Context, _ *Operation) error {
		_, err := r.kms.UpdateCustomKeyStore(ctx, in)
		return err
	})
}

// wrongPassword tells KMS a wrong kmsuser password.
func (r *run) wrongPassword(ctx context.Context, p *process, id string, rng *rand.Rand) *Operation {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := []byte("wrong")
	for range 16 {
		b = append(b, alphabet[rng.IntN(len(alphabet))])
	}
	return r.updateStore(ctx, p, id, Operation{Password: "wrong"}, &kms.UpdateCustomKeyStoreInput{KeyStorePassword: aws.String(string(b))})
}

// waitPoll is how often a waiting process describes a store.
const waitPoll = 50 * time.Millisecond

// waitState describes the store until it shows state (true), or the wait
// gives up (false): after three op-timeouts, or when stop is closed.
func (r *run) waitState(ctx context.Context, p *process, stop <-chan struct{}, id, state string) bool {
	deadline := time.Now().Add(3 * r.scenario.OpTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if o := r.describeStore(ctx, p, id); o.isOK() && o.State == state {
			return true
		}
		select {
		case <-stop:
			return false
		case <-time.After(waitPoll):
		}
	}
	return false
}

// waitConnectEnd describes the store until its connect ends (CONNECTED or
// FAILED, or DISCONNECTED when something disconnected it) and returns the
// last description (nil if none answered).
func (r *run) waitConnectEnd(ctx context.Context, p *process, id string, limit time.Duration, stop ...<-chan struct{}) *Operation {
	deadline := time.Now().Add(limit)
	var last *Operation
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if o := r.describeStore(ctx, p, id); o.isOK() {
			last = o
			switch o.State {
			case stateConnected, stateFailed, stateDisconnected:
				return o
			}
		}
		select {
		case <-firstOrNil(stop):
			return last
		case <-time.After(waitPoll):
		}
	}
	return last
}

func firstOrNil(chans []<-chan struct{}) <-chan struct{} {
	if len(chans) == 0 {
		return nil
	}
	return chans[0]
}

// lifecycle runs one round of a store-lifecycle operation on the client's
// spare cluster: it makes a store of its own, does what the operation
// races, and deletes the store again. A store that connected rotated
// kmsuser's password, which only KMS knew: the round ends with the
// officer setting a new one (inject and heal invalid-credentials), as a
// user must before making a new store on that cluster.
func (c *workloadClient) lifecycle(ctx context.Context) {
	r, p := c.run, c.p
	cluster := r.clusters[r.scenario.Clusters+c.w.Spare+c.index]
	r.mu.Lock()
	clusterID, anchor, password := cluster.id, cluster.anchor, cluster.password
	r.mu.Unlock()
	name := fmt.Sprintf("chaos-%s-%s-%d", r.id, p.name, c.calls)
	create := func(p *process) *Operation {
		op := r.do(ctx, p, Operation{Call: callCreateStore, NewName: name, Cluster: clusterID}, func(ctx context.Context, op *Operation) error {
			out, err := r.kms.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name),
				CloudHsmClusterId: aws.String(clusterID), TrustAnchorCertificate: aws.String(anchor), KeyStorePassword: aws.String(password)})
			if err == nil {
				op.Store = aws.ToString(out.CustomKeyStoreId)
			}
			return err
		})
		if op.isOK() {
			r.mu.Lock()
			if !slices.Contains(r.temporary, op.Store) {
				r.temporary = append(r.temporary, op.Store)
			}
			r.mu.Unlock()
		}
		return op
	}
	rotated := false
	// finish disconnects and deletes a store the round made.
	finish := func(id string) {
		if last := r.describeStore(ctx, p, id); last.failedWith(excStoreNotFound) {
			return
		} else if last.isOK() && last.State != stateDisconnected {
			if last.State == stateConnecting {
				last = r.waitConnectEnd(ctx, p, id, c.waitLimit())
			}
			if last != nil && last.State == stateConnected {
				rotated = true
			}
			r.disconnectStore(ctx, p, id)
			r.waitState(ctx, p, nil, id, stateDisconnected)
		}
		r.deleteStore(ctx, p, id)
	}
	switch c.w.Op {
	case "fresh-store-connect":
		op := create(p)
		if !op.isOK() {
			return
		}
		r.connectStore(ctx, p, op.Store)
		if end := r.waitConnectEnd(ctx, p, op.Store, c.waitLimit()); end != nil && end.State == stateConnected {
			rotated = true
		}
		finish(op.Store)
	case "create-store-twice":
		ops := c.concurrently(2, func(sub *process) *Operation { return create(sub) })
		var ids []string
		for _, op := range ops {
			if op.isOK() && !slices.Contains(ids, op.Store) {
				ids = append(ids, op.Store)
			}
		}
		for _, id := range ids {
			finish(id)
		}
	case "connect-delete-race":
		op := create(p)
		if !op.isOK() {
			return
		}
		id := op.Store
		ops := c.concurrently(2, func(sub *process) *Operation {
			if sub.name[len(sub.name)-1] == 'a' {
				return r.connectStore(ctx, sub, id)
			}
			return r.deleteStore(ctx, sub, id)
		})
		if ops[0].isOK() && ops[1].isOK() {
			// Both were accepted (the checker says what it thinks of that);
			// a connect may be running for a store that is gone.
			rotated = true
		}
		finish(id)
	}
	if rotated {
		c.resetPassword(ctx, clusterID)
	}
}

// concurrently runs n calls at once, each as a process of its own
// ("client-0.1/a", "…/b"), and returns their operations in order.
func (c *workloadClient) concurrently(n int, fn func(p *process) *Operation) []*Operation {
	out := make([]*Operation, n)
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	ready.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := &process{name: fmt.Sprintf("%s/%c", c.p.name, 'a'+i), workload: c.p.workload, phase: c.p.phase}
			ready.Done()
			ready.Wait()
			out[i] = fn(sub)
		}()
	}
	wg.Wait()
	return out
}

// resetPassword has the spare cluster's officer set kmsuser a new password
// (the heal of invalid-credentials reports it) for the next store made on
// it.
func (c *workloadClient) resetPassword(ctx context.Context, clusterID string) {
	r, p := c.run, c.p
	req := faultRequest(faultInvalidCredentials, clusterID, "")
	if op := r.inject(ctx, p, req, "reset"); !op.isOK() {
		return
	}
	r.heal(ctx, p, req, "reset")
}
