package scenarios

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsharness/kmsharness/control"
)

// run is one run of a scenario.
type run struct {
	scenario *Scenario
	target   Target
	opts     runOptions
	plan     *Plan
	id       string
	kms      *kms.Client
	rec      *recorder
	secrets  *secrets
	log      *slog.Logger
	history  *History
	// encryptionContext goes with every encryption of the run.
	encryptionContext map[string]string

	catalogue map[string]control.Fault

	mu sync.Mutex
	// clusters are the run's clusters by index (the current ID of each:
	// a heal may replace one by a related cluster).
	clusters []*runCluster
	stores   []*runStore
	// inPlace are the faults put in place and not yet healed.
	inPlace []control.FaultRequest
	// pending is what heals reported for each store since its last
	// repair.
	pending map[int]*control.HealReport
	// lastRepair is when the last heal or repair ended.
	lastRepair int64
	// made are the clusters to delete at the end; temporary the stores
	// workload clients made on spare clusters and may have left.
	made      []string
	temporary []string
}

// runCluster is one of the run's clusters.
type runCluster struct {
	index    int
	spare    bool
	id       string
	anchor   string
	password string
	hsms     []control.HSM
}

// zones returns the cluster's availability zones, sorted.
func (c *runCluster) zones() []string {
	var zones []string
	for _, h := range c.hsms {
		if !slices.Contains(zones, h.AvailabilityZone) {
			zones = append(zones, h.AvailabilityZone)
		}
	}
	sort.Strings(zones)
	return zones
}

// runStore is one of the scenario's stores, with its setup keys and the
// ciphertexts the run made with them.
type runStore struct {
	index int
	id    string
	keys  []string

	mu          sync.Mutex
	ciphertexts []*cipherEntry
	created     []string
}

// cipherEntry is an acknowledged ciphertext.
type cipherEntry struct {
	blob []byte
	key  string
	// plaintext is its digest ("" when the run does not know it).
	plaintext string
	// producer is the operation that made it.
	producer int
}

func (s *runStore) addCiphertext(e *cipherEntry) {
	s.mu.Lock()
	s.ciphertexts = append(s.ciphertexts, e)
	s.mu.Unlock()
}

// pickCiphertext returns the ciphertext at a drawn position of the pool.
func (s *runStore) pickCiphertext(draw uint64) *cipherEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ciphertexts) == 0 {
		return nil
	}
	return s.ciphertexts[draw%uint64(len(s.ciphertexts))]
}

// Run runs a scenario against a target: it makes the clusters, stores and
// keys, runs the clients while the schedule injects and heals faults,
// heals what is left and repairs the stores, checks that everything came
// back and nothing was lost, checks the history, writes the report, and
// frees what it made. The error is for runs that could not be carried out:
// a bad scenario for this target (ErrBadScenario, and no Result), or a
// target that failed the set-up (then the Result holds the checks of what
// the set-up recorded, and its report). A run whose checks fail returns a
// Result that has not Passed, and no error.
func Run(ctx context.Context, target Target, s *Scenario, opts ...Option) (*Result, error) {
	began := time.Now()
	o := runOptions{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if target.Control == nil {
		return nil, errors.New("scenarios: the target has no control API (a scenario injects faults through it)")
	}
	if target.Endpoint == "" {
		return nil, errors.New("scenarios: the target has no KMS endpoint")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	seed := randomSeed()
	switch {
	case o.seed != nil:
		seed = *o.seed
	case s.Seed != nil:
		seed = *s.Seed
	}
	duration := s.Duration
	if o.duration > 0 {
		duration = o.duration
	}
	if o.replay == nil {
		o.replay = func(seed uint64, d time.Duration) string {
			cmd := fmt.Sprintf("kmsharness chaos run %s --seed %d", s.Source, seed)
			if len(s.Source) > 8 && s.Source[:8] == "builtin:" {
				cmd = fmt.Sprintf("kmsharness chaos run %s --seed %d", s.Name, seed)
			}
			if d != s.Duration {
				cmd += " --duration " + d.String()
			}
			return cmd
		}
	}
	r := &run{scenario: s, target: target, opts: o, plan: NewPlan(s, seed, duration), id: runID(), kms: newKMSClient(target),
		rec: newRecorder(), secrets: &secrets{}, log: o.logger, pending: map[int]*control.HealReport{}}
	r.encryptionContext = map[string]string{"kmsharness-chaos": r.id}
	r.history = &History{Version: HistoryVersion, Scenario: s, Seed: seed, Duration: duration, Replay: o.replay(seed, duration),
		StartedAt: time.Now(), Target: TargetInfo{Endpoint: target.Endpoint, Control: target.Control.URL()}, Plan: r.plan}
	r.event("replay: %s", r.history.Replay)

	dir, made, err := reportDir(o.reportDir, s.Name, seed)
	if err != nil {
		return nil, err
	}
	if err := r.preflight(ctx); err != nil {
		removeIfMade(dir, made)
		return nil, err
	}
	if err := r.setup(ctx); err != nil {
		// What the set-up recorded is checked and reported all the same: a
		// target that breaks the set-up usually breaks a rule too.
		r.cleanup(context.WithoutCancel(ctx))
		r.history.Operations = r.rec.snapshot()
		verdicts := Check(r.history)
		res := &Result{Scenario: s.Name, Seed: seed, Duration: duration, Verdicts: verdicts, History: r.history, Replay: r.history.Replay,
			Dir: dir, Elapsed: time.Since(began)}
		if rerr := WriteReport(dir, r.history, verdicts); rerr != nil {
			removeIfMade(dir, made)
			res.Dir = ""
		}
		return res, fmt.Errorf("scenarios: set-up of %s: %w (the report of what it recorded: %s)", s.Name, err, res.Dir)
	}
	r.runPhase(ctx)
	r.settle(ctx)
	r.verify(ctx)
	r.cleanup(context.WithoutCancel(ctx))

	r.history.Operations = r.rec.snapshot()
	r.history.LastRepair = r.lastRepair
	r.event("checking the history")
	verdicts := Check(r.history)
	res := &Result{Scenario: s.Name, Seed: seed, Duration: duration, Verdicts: verdicts, History: r.history, Replay: r.history.Replay, Dir: dir}
	if err := WriteReport(dir, r.history, verdicts); err != nil {
		return res, fmt.Errorf("scenarios: report: %w", err)
	}
	if res.Passed() && !o.keep {
		removeArtefacts(dir, made)
		res.Dir = ""
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// randomSeed draws a seed for a run that was given none.
func randomSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
}

// runID names the run's stores, so that runs sharing a target do not
// collide.
func runID() string {
	var b [4]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// event reports a notable thing to WithEvents.
func (r *run) event(format string, args ...any) {
	if r.opts.events != nil {
		r.opts.events(Event{At: time.Duration(r.rec.now()), Text: fmt.Sprintf(format, args...)})
	}
}

// preflight checks that the target serves what the scenario needs, and
// that the schedule names faults it serves, as it must take them.
func (r *run) preflight(ctx context.Context) error {
	info, err := r.target.Control.Info(ctx)
	if err != nil {
		return fmt.Errorf("scenarios: the control API: %w", err)
	}
	for _, f := range []string{control.FeatureClusters, control.FeatureFaults} {
		if !info.Has(f) {
			return fmt.Errorf("scenarios: the control API at %s does not serve %s, which a scenario needs", r.target.Control.URL(), f)
		}
	}
	r.history.Target.Implementation = info.Implementation
	catalogue, err := r.target.Control.Faults(ctx)
	if err != nil {
		return fmt.Errorf("scenarios: the fault catalogue: %w", err)
	}
	r.history.Catalogue = catalogue
	r.catalogue = map[string]control.Fault{}
	for _, f := range catalogue {
		r.catalogue[f.Name] = f
	}
	var errs []*FieldError
	fail := func(a Action, format string, args ...any) {
		errs = append(errs, &FieldError{Source: r.scenario.Source, Line: a.Line, Field: a.Origin, Msg: fmt.Sprintf(format, args...)})
	}
	var walk func(a Action)
	walk = func(a Action) {
		for _, m := range a.Steps {
			walk(m)
		}
		if a.Kind != actInject && a.Kind != actHeal {
			return
		}
		f, ok := r.catalogue[a.Fault]
		switch {
		case !ok:
			fail(a, "the target serves no fault %q (its catalogue: %s)", a.Fault, catalogueNames(catalogue))
		case f.NeedsHSM && a.HSM == nil && a.Zone == nil && a.HSMPick == nil:
			fail(a, "%s acts on one HSM: give hsm (or zone)", a.Fault)
		}
	}
	for _, a := range r.plan.Actions {
		walk(a)
	}
	for i, w := range r.scenario.Workload {
		if workloadOps[w.Op].kind == onSpare {
			if _, ok := r.catalogue[faultInvalidCredentials]; !ok {
				errs = append(errs, &FieldError{Source: r.scenario.Source, Line: r.scenario.line(index("workload", i)), Field: index("workload", i),
					Msg: fmt.Sprintf("%s resets kmsuser's password through the fault %s, which the target does not serve", w.Op, faultInvalidCredentials)})
			}
		}
	}
	if len(errs) > 0 {
		return &ScenarioError{Errors: errs}
	}
	return nil
}

func catalogueNames(c []control.Fault) string {
	var names []string
	for _, f := range c {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "empty"
	}
	return fmt.Sprint(names)
}

// setup makes the clusters, then a connected store on each but the spare
// ones, then the keys of each store and one ciphertext per key.
func (r *run) setup(ctx context.Context) error {
	r.event("setting up %s and %s", plural(r.scenario.Clusters+r.scenario.SpareClusters, "cluster"), plural(r.scenario.Stores(), "store"))
	p := &process{name: "setup", phase: phaseSetup}
	n := r.scenario.Clusters + r.scenario.SpareClusters
	r.clusters = make([]*runCluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := r.target.Control.NewCluster(ctx, r.scenario.HSMs)
			if err != nil {
				errs[i] = fmt.Errorf("a cluster: %w", err)
				return
			}
			r.mu.Lock()
			r.made = append(r.made, c.ClusterID)
			r.secrets.add(c.KMSUserPassword)
			r.mu.Unlock()
			info, err := r.target.Control.Cluster(ctx, c.ClusterID)
			if err != nil {
				errs[i] = fmt.Errorf("cluster %s: %w", c.ClusterID, err)
				return
			}
			r.clusters[i] = &runCluster{index: i, spare: i >= r.scenario.Clusters, id: c.ClusterID, anchor: c.TrustAnchorPEM,
				password: c.KMSUserPassword, hsms: info.HSMs}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, c := range r.clusters {
		r.history.Clusters = append(r.history.Clusters, ClusterRecord{Index: c.index, ID: c.id, Spare: c.spare, HSMs: c.hsms})
	}
	for i := range r.scenario.Stores() {
		c := r.clusters[i]
		name := fmt.Sprintf("chaos-%s-%s-%d", r.id, r.scenario.Name, i)
		if len(name) > 256 {
			name = name[:256]
		}
		op := r.do(ctx, p, Operation{Call: callCreateStore, NewName: name, Cluster: c.id}, func(ctx context.Context, op *Operation) error {
			out, err := r.kms.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name),
				CloudHsmClusterId: aws.String(c.id), TrustAnchorCertificate: aws.String(c.anchor), KeyStorePassword: aws.String(c.password)})
			if err == nil {
				op.Store = aws.ToString(out.CustomKeyStoreId)
			}
			return err
		})
		if !op.isOK() {
			return fmt.Errorf("CreateCustomKeyStore on %s: %s", c.id, errorText(op))
		}
		st := &runStore{index: i, id: op.Store}
		r.stores = append(r.stores, st)
		r.history.Stores = append(r.history.Stores, StoreRecord{Index: i, ID: st.id, Name: name, Cluster: c.id})
	}
	// Connect every store and wait for each.
	errs = make([]error, len(r.stores))
	for i, st := range r.stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp := &process{name: fmt.Sprintf("setup-%d", i), phase: phaseSetup}
			r.connectStore(ctx, sp, st.id)
			if last := r.waitConnectEnd(ctx, sp, st.id, 2*time.Minute); last == nil || last.State != stateConnected {
				errs[i] = fmt.Errorf("store %s did not connect: %s", st.id, describeOps(last))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Keys and one ciphertext each.
	for i, st := range r.stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp := &process{name: fmt.Sprintf("setup-%d", i), phase: phaseSetup}
			for range r.scenario.Keys {
				op := r.patiently(ctx, func() *Operation { return r.createKey(ctx, sp, st) })
				if !op.isOK() {
					errs[i] = fmt.Errorf("CreateKey in %s: %s", st.id, errorText(op))
					return
				}
				st.keys = append(st.keys, op.Key)
				plaintext := make([]byte, 32)
				_, _ = crand.Read(plaintext)
				if enc := r.patiently(ctx, func() *Operation { return r.encrypt(ctx, sp, st, op.Key, plaintext) }); !enc.isOK() {
					errs[i] = fmt.Errorf("encrypting with %s: %s", op.Key, errorText(enc))
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// patiently makes a set-up call again, for up to the liveness bound, while
// it fails in a way that may pass (the store not quite CONNECTED yet, a
// server error, no answer), as a careful client would; every try is
// recorded.
func (r *run) patiently(ctx context.Context, call func() *Operation) *Operation {
	deadline := time.Now().Add(r.scenario.Expect.AllConnectedWithin)
	for {
		op := call()
		if op.isOK() || op.isFail() && !retryable(op.errorType()) && op.errorType() != excInvalidState || time.Now().After(deadline) || ctx.Err() != nil {
			return op
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// runPhase runs the clients, the observer and the schedule for the run's
// duration (and until the schedule is done).
func (r *run) runPhase(ctx context.Context) {
	r.history.RunStart = r.rec.now()
	r.event("running for %s", r.plan.Duration)
	stop := make(chan struct{})
	var clients sync.WaitGroup
	start := time.Now()
	for wi, w := range r.scenario.Workload {
		for ci := range w.Clients {
			clients.Add(1)
			go func() {
				defer clients.Done()
				r.client(ctx, stop, start, wi, ci)
			}()
		}
	}
	clients.Add(1)
	go func() {
		defer clients.Done()
		r.observe(ctx, stop)
	}()
	if len(r.opts.userCode) > 0 {
		userCtx, cancelUser := context.WithCancel(ctx)
		go func() {
			<-stop
			cancelUser()
		}()
		uc := r.userClient()
		for _, fn := range r.opts.userCode {
			clients.Add(1)
			go func() {
				defer clients.Done()
				fn(userCtx, uc)
			}()
		}
	}
	nemesisDone := make(chan struct{})
	go func() {
		defer close(nemesisDone)
		r.nemesis(ctx, start)
	}()
	progressDone := make(chan struct{})
	go r.reportProgress(stop, progressDone, start)
	timer := time.NewTimer(r.plan.Duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	select {
	case <-nemesisDone:
	case <-ctx.Done():
	}
	close(stop)
	clients.Wait()
	<-progressDone
	r.history.RunEnd = r.rec.now()
}

// reportProgress calls the progress callback until stop.
func (r *run) reportProgress(stop <-chan struct{}, done chan<- struct{}, start time.Time) {
	defer close(done)
	if r.opts.progress == nil {
		return
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastOps, lastAt := r.rec.count(), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			ops := r.rec.count()
			rate := float64(ops-lastOps) / now.Sub(lastAt).Seconds()
			lastOps, lastAt = ops, now
			r.opts.progress(Progress{Phase: phaseRun, Elapsed: time.Since(start), Total: r.plan.Duration, Operations: ops,
				OpsPerSecond: rate, Faults: r.faultsInPlace()})
		}
	}
}

// faultsInPlace describes the faults in place, for progress reports.
func (r *run) faultsInPlace() []string {
	r.mu.Lock()
	inPlace := slices.Clone(r.inPlace)
	r.mu.Unlock()
	var out []string
	for _, f := range inPlace {
		out = append(out, r.describeFault(f))
	}
	return out
}

// describeFault names a fault request with the run's indexes.
func (r *run) describeFault(f control.FaultRequest) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := f.Name
	for _, c := range r.clusters {
		if c.id == f.Cluster {
			s += fmt.Sprintf(" on cluster %d", c.index)
			for j, h := range c.hsms {
				if h.HSMID == f.HSM {
					s += fmt.Sprintf(" HSM %d", j)
				}
			}
			return s
		}
	}
	return s + " on " + f.Cluster
}

// observe describes every store at the scenario's interval until stop.
func (r *run) observe(ctx context.Context, stop <-chan struct{}) {
	p := &process{name: "observer", phase: phaseRun}
	tick := time.NewTicker(r.scenario.ObserveEvery)
	defer tick.Stop()
	for {
		for _, st := range r.stores {
			r.describeStore(ctx, p, st.id)
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// settle heals every fault still in place, repairs the stores that need it
// (a heal reported something, or they are not CONNECTED), then waits, up
// to the liveness bound, until every store is CONNECTED and encrypts.
func (r *run) settle(ctx context.Context) {
	r.event("settling: healing what is in place, repairing the stores")
	p := &process{name: "settle", phase: phaseSettle}
	r.mu.Lock()
	inPlace := slices.Clone(r.inPlace)
	r.mu.Unlock()
	slices.Reverse(inPlace)
	for _, f := range inPlace {
		r.heal(ctx, p, f, "settle")
	}
	for _, st := range r.stores {
		r.mu.Lock()
		_, pending := r.pending[st.index]
		r.mu.Unlock()
		last := r.describeStore(ctx, p, st.id)
		if pending || last.isOK() && last.State != stateConnected && last.State != stateConnecting {
			r.repair(ctx, p, st.index, "settle")
		}
	}
	// Keys a client disabled are enabled again, so that the final checks
	// can use every key (a key's enabled state is its register's business).
	if r.disablesKeys() {
		for _, st := range r.stores {
			st.mu.Lock()
			keys := append(slices.Clone(st.keys), st.created...)
			st.mu.Unlock()
			for _, key := range keys {
				r.do(ctx, p, Operation{Call: callEnableKey, Store: st.id, Key: key}, func(ctx context.Context, _ *Operation) error {
					_, err := r.kms.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(key)})
					return err
				})
			}
		}
	}
	r.mu.Lock()
	from := max(r.lastRepair, r.history.RunEnd)
	r.lastRepair = from
	r.mu.Unlock()
	deadline := r.rec.base.Add(time.Duration(from) + r.scenario.Expect.AllConnectedWithin)
	var wg sync.WaitGroup
	for _, st := range r.stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp := &process{name: fmt.Sprintf("settle-%d", st.index), phase: phaseSettle}
			for time.Now().Before(deadline) {
				if o := r.describeStore(ctx, sp, st.id); o.isOK() && o.State == stateConnected {
					break
				}
				sleepCtx(ctx, 100*time.Millisecond)
			}
			if len(st.keys) == 0 {
				return
			}
			plaintext := make([]byte, 32)
			_, _ = crand.Read(plaintext)
			for time.Now().Before(deadline) {
				if op := r.encrypt(ctx, sp, st, st.keys[0], plaintext); op.isOK() {
					return
				}
				sleepCtx(ctx, 200*time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// disablesKeys reports whether a client of the scenario disables keys.
func (r *run) disablesKeys() bool {
	for _, w := range r.scenario.Workload {
		if w.Op == "disable-key" {
			return true
		}
	}
	return false
}

// verify describes every acknowledged key and decrypts every acknowledged
// ciphertext (retrying what got no definite answer).
func (r *run) verify(ctx context.Context) {
	r.event("verifying every acknowledged key and ciphertext")
	type job struct {
		st  *runStore
		key string
		ct  *cipherEntry
	}
	var jobs []job
	for _, st := range r.stores {
		st.mu.Lock()
		for _, k := range append(slices.Clone(st.keys), st.created...) {
			jobs = append(jobs, job{st: st, key: k})
		}
		for _, ct := range st.ciphertexts {
			jobs = append(jobs, job{st: st, ct: ct})
		}
		st.mu.Unlock()
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &process{name: fmt.Sprintf("verify-%d", w), phase: phaseVerify}
			for j := range work {
				for try := 0; try < 3; try++ {
					var op *Operation
					if j.ct != nil {
						op = r.decrypt(ctx, p, j.st, j.ct)
					} else {
						op = r.describeKey(ctx, p, j.st, j.key)
					}
					if op.isOK() || op.isFail() && !retryable(op.errorType()) {
						break
					}
					sleepCtx(ctx, 100*time.Millisecond)
				}
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
}

// retryable says whether an exception may go away by itself.
func retryable(exc string) bool {
	switch exc {
	case excThrottling, excKMSInternal, excDependencyTimeout, excKeyUnavailable:
		return true
	}
	return false
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// cleanup frees what the run made: it disconnects the stores, schedules
// their keys' deletion, deletes the stores when the keys are gone (a
// target with short deletion windows), and deletes the clusters. What it
// cannot free goes into the history's notes.
func (r *run) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, st := range r.stores {
		_, _ = r.kms.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.id)})
		st.mu.Lock()
		keys := append(slices.Clone(st.keys), st.created...)
		st.mu.Unlock()
		for _, k := range keys {
			_, _ = r.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k), PendingWindowInDays: aws.Int32(7)})
		}
	}
	r.mu.Lock()
	temporary := slices.Clone(r.temporary)
	r.mu.Unlock()
	for _, id := range temporary {
		_, _ = r.kms.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	}
	ids := temporary
	for _, st := range r.stores {
		ids = append(ids, st.id)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, id := range ids {
		for {
			_, err := r.kms.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			var notFound *types.CustomKeyStoreNotFoundException
			if err == nil || errors.As(err, &notFound) {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				r.note("store %s is left: %v", id, err)
				break
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
	r.mu.Lock()
	made := slices.Clone(r.made)
	r.mu.Unlock()
	for _, id := range made {
		if err := r.target.Control.DeleteCluster(ctx, id); err != nil && !errors.Is(err, control.ErrNotFound) {
			r.note("cluster %s is left: %v", id, err)
		}
	}
}

// note records something people should know in the history.
func (r *run) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.log.Debug("chaos run: " + msg)
	r.mu.Lock()
	r.history.Notes = append(r.history.Notes, msg)
	r.mu.Unlock()
}

// reportDir returns the directory for a run's artefacts, and whether the
// run made it.
func reportDir(dir, name string, seed uint64) (string, bool, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", fmt.Sprintf("kmsharness-chaos-%s-%d-", name, seed))
		return d, true, err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return dir, true, os.MkdirAll(dir, 0o755)
	}
	return dir, false, nil
}

func removeIfMade(dir string, made bool) {
	if made {
		_ = os.RemoveAll(dir)
	}
}
