package suites

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/kmsharness/kmsharness/control"
)

// The kit is designed for the reference target, a real AWS account: at
// most 10 custom key stores alive at once, keys that block their store's
// deletion for at least 7 days once scheduled for deletion, and one or two
// CloudHSM clusters, each usable by one store at a time. So:
//
//   - the specs that need keys share one store per run (per process under
//     ginkgo -p), named after its cluster so that the next run against the
//     same cluster finds it again and reuses it;
//   - the specs that need only a store make one and delete it, and its
//     cluster goes back to the pool for the next spec;
//   - the first given cluster (Config.Clusters[0]) is the shared store's;
//     the others, and clusters made through the control API, serve the
//     specs' own stores;
//   - until the shared store opens on it, the first given cluster is lent
//     to specs' own stores that never connect, when no other cluster is to
//     be had: those specs run first (a higher SpecPriority), so that a run
//     with one cluster and no control API checks them too; the spec that
//     must connect a store that never connected (CKS-CONNECT-002) runs
//     next, on a store of its own or else on the shared store before
//     anything else connects it;
//   - clusters made through the control API are deleted when the run ends
//     (or at once when a fault spec has changed them).
//
// BudgetReport says what a run spent.

// BudgetReport is what a run of the suites spent of the target's account.
type BudgetReport struct {
	// StoresMade counts the custom key stores the kit created.
	StoresMade int
	// StoresReused counts stores of an earlier run the kit used again (the
	// shared store with keys).
	StoresReused int
	// StoresDeleted counts the kit's stores it deleted.
	StoresDeleted int
	// StoresPending lists the stores left behind because keys pending
	// deletion still block their deletion.
	StoresPending []string
	// StoresPeak is the most stores of the kit alive at once.
	StoresPeak int
	// ClustersUsed counts the distinct clusters the kit's stores used.
	ClustersUsed int
	// ClustersMade counts clusters made through the control API or a
	// ClusterProvider (or by a heal, for a store of the kit);
	// ClustersReleased those deleted again, or found gone.
	ClustersMade     int
	ClustersReleased int
}

// String renders the budget on one line.
func (b BudgetReport) String() string {
	pending := ""
	if len(b.StoresPending) > 0 {
		pending = " (" + strings.Join(b.StoresPending, ", ") + ")"
	}
	return fmt.Sprintf("stores: %d made, %d reused, %d deleted, %d left pending deletion%s, at most %d alive at once; clusters: %d used, %d made, %d released",
		b.StoresMade, b.StoresReused, b.StoresDeleted, len(b.StoresPending), pending, b.StoresPeak, b.ClustersUsed, b.ClustersMade, b.ClustersReleased)
}

// registered are the registrations of the suites in this process, whose
// budgets Budget adds up. It is the package's only mutable state: the run's
// clean-up and budget outlive every spec.
var registered struct {
	mu     sync.Mutex
	suites []*suite
}

// Budget returns what the suites registered in this process spent so far;
// after the suite (once the suites' clean-up ran) it is the run's budget.
// Under ginkgo -p each process has its own.
func Budget() BudgetReport {
	registered.mu.Lock()
	defer registered.mu.Unlock()
	var total BudgetReport
	for _, s := range registered.suites {
		b := s.budgetNow()
		total.StoresMade += b.StoresMade
		total.StoresReused += b.StoresReused
		total.StoresDeleted += b.StoresDeleted
		total.StoresPending = append(total.StoresPending, b.StoresPending...)
		total.StoresPeak += b.StoresPeak
		total.ClustersUsed += b.ClustersUsed
		total.ClustersMade += b.ClustersMade
		total.ClustersReleased += b.ClustersReleased
	}
	return total
}

// pool is a registration's clusters and stores: which given clusters are
// free, which were made (and must be released), and the budget.
type pool struct {
	mu        sync.Mutex
	nextGiven int               // index of the next given cluster never used
	free      []Cluster         // clusters whose stores are gone
	made      map[string]bool   // clusters made and not released yet
	used      map[string]bool   // clusters any store of the kit used
	alive     map[string]*store // the kit's stores not deleted
	budget    BudgetReport

	// With only one cluster to give, Clusters[0] is lent to specs' own
	// stores until the shared store opens on it: lent says it is out now,
	// sharedOpened that the shared store has claimed it, and lost why the
	// shared store can no longer have it (a lent store connected, so KMS
	// rotated kmsuser's password to one only it knows).
	lent         bool
	sharedOpened bool
	lost         string
}

func (s *suite) budgetNow() BudgetReport {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	b := s.pool.budget
	b.StoresPending = append([]string(nil), b.StoresPending...)
	b.ClustersUsed = len(s.pool.used)
	return b
}

// ErrNoCluster means the target has no cluster left for a spec.
var ErrNoCluster = errors.New("no free cluster: give more with --cluster (Config.Clusters), or a control API that makes them")

// errNoFreshCluster means a spec needs a cluster of its own that it may
// change (a fault spec) and the target cannot make one.
var errNoFreshCluster = errors.New("needs a new cluster it may change: the target's control API must make clusters")

// clusterNeed says what a spec will do to the cluster it takes.
type clusterNeed int

const (
	// clusterKept: the spec's store never connects, so the cluster's
	// kmsuser password stays the given one.
	clusterKept clusterNeed = iota
	// clusterConnected: the spec's store connects (KMS rotates kmsuser's
	// password), so the cluster is of no use to another store after it.
	clusterConnected
	// clusterFresh: a new cluster the spec may change with faults: made,
	// never a given one.
	clusterFresh
)

// takeCluster returns a cluster no store of the kit uses: a free one, else
// a given one never used (the first given cluster is the shared store's),
// else a new one from the Provider or the control API, else, for a store
// that keeps the cluster as it is, the shared store's cluster while the
// shared store has not opened on it (lent; giveBack returns it).
func (s *suite) takeCluster(ctx context.Context, need clusterNeed) (Cluster, error) {
	p := &s.pool
	fresh := need == clusterFresh
	if !fresh {
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			cl := p.free[n-1]
			p.free = p.free[:n-1]
			p.mu.Unlock()
			return cl, nil
		}
		if p.nextGiven == 0 {
			p.nextGiven = 1 // Clusters[0] is the shared store's
		}
		if p.nextGiven < len(s.cfg.Clusters) {
			cl := s.cfg.Clusters[p.nextGiven]
			p.nextGiven++
			p.mu.Unlock()
			return cl, nil
		}
		p.mu.Unlock()
	}
	cl, err := s.makeCluster(ctx, fresh)
	if errors.Is(err, ErrNoCluster) && need == clusterKept {
		if lent, ok := s.lendSharedCluster(); ok {
			return lent, nil
		}
	}
	return cl, err
}

// parallelProcesses returns how many Ginkgo processes run the suites.
// A variable, so that the unit tests of lending, which go test runs inside
// ginkgo -p too, can say one.
var parallelProcesses = func() int {
	cfg, _ := ginkgo.GinkgoConfiguration()
	return cfg.ParallelTotal
}

// lendSharedCluster lends the shared store's cluster to a spec's own store
// if the shared store has not opened on it and it is not out already. Under
// ginkgo -p it never lends: each process has a pool of its own, and a store
// one process made on the cluster would keep another's shared store off it.
func (s *suite) lendSharedCluster() (Cluster, bool) {
	if parallelProcesses() > 1 {
		return Cluster{}, false
	}
	p := &s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(s.cfg.Clusters) == 0 || p.sharedOpened || p.lent || p.lost != "" {
		return Cluster{}, false
	}
	p.lent = true
	return s.cfg.Clusters[0], true
}

// isLent says whether cl is the shared store's cluster, lent out now.
func (s *suite) isLent(cl Cluster) bool {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return s.pool.lent && len(s.cfg.Clusters) > 0 && cl.ID == s.cfg.Clusters[0].ID
}

// sharedClusterLent is why the shared store cannot open while its cluster
// is lent: for now, not for the rest of the run.
const sharedClusterLent = "needs the given cluster for the store with keys, and a spec's own store holds it (lent until that store is deleted)"

// claimSharedCluster records that the shared store opens on Clusters[0],
// or returns why it cannot (the cluster is lent out, or was lost).
func (s *suite) claimSharedCluster() string {
	p := &s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.lost != "":
		return p.lost
	case p.lent:
		return sharedClusterLent
	}
	p.sharedOpened = true
	return ""
}

// makeCluster makes a new cluster through the Provider or the control API.
func (s *suite) makeCluster(ctx context.Context, fresh bool) (Cluster, error) {
	var cl Cluster
	var err error
	switch {
	case s.cfg.Provider != nil:
		cl, err = s.cfg.Provider.NewCluster(ctx)
	case s.cfg.Control != nil:
		var c control.Cluster
		c, err = s.cfg.Control.NewCluster(ctx, 0)
		cl = Cluster{ID: c.ClusterID, TrustAnchorPEM: c.TrustAnchorPEM, KMSUserPassword: c.KMSUserPassword}
	case fresh:
		return Cluster{}, errNoFreshCluster
	default:
		return Cluster{}, ErrNoCluster
	}
	if err != nil {
		return Cluster{}, err
	}
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	s.pool.budget.ClustersMade++
	if s.cfg.Provider == nil {
		if s.pool.made == nil {
			s.pool.made = map[string]bool{}
		}
		s.pool.made[cl.ID] = true
	}
	return cl, nil
}

// giveBack returns the cluster of a deleted store: to the pool, or, when
// it changed (a fault, a connect), to the control API to delete.
func (s *suite) giveBack(ctx context.Context, cl Cluster, changed bool) {
	if s.isLent(cl) {
		s.pool.mu.Lock()
		s.pool.lent = false
		if changed {
			s.pool.lost = "needs the given cluster for the store with keys, and a spec's own store connected on it: KMS rotated kmsuser's password to one only it knew"
		}
		s.pool.mu.Unlock()
		return
	}
	if !changed {
		s.pool.mu.Lock()
		s.pool.free = append(s.pool.free, cl)
		s.pool.mu.Unlock()
		return
	}
	s.releaseCluster(ctx, cl.ID)
}

// strand records that the store storeID on cl could not be deleted, so cl
// stays with it: if cl is the shared store's cluster, lent, the shared
// store will not have it in this run.
func (s *suite) strand(cl Cluster, storeID string) {
	if !s.isLent(cl) {
		return
	}
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	s.pool.lent = false
	s.pool.lost = "needs the given cluster for the store with keys, and a spec's own store on it, " + storeID + ", could not be deleted"
}

// releaseCluster deletes a cluster the kit made through the control API
// (others it leaves alone).
func (s *suite) releaseCluster(ctx context.Context, id string) {
	s.pool.mu.Lock()
	made := s.pool.made[id]
	delete(s.pool.made, id)
	s.pool.mu.Unlock()
	if !made || s.cfg.Control == nil {
		return
	}
	err := s.cfg.Control.DeleteCluster(ctx, id)
	var se *control.StatusError
	if err != nil && !(errors.As(err, &se) && se.Status == 404) {
		ginkgo.GinkgoWriter.Printf("releasing cluster %s: %v\n", id, err)
		return
	}
	s.pool.mu.Lock()
	s.pool.budget.ClustersReleased++
	s.pool.mu.Unlock()
}

// replaceCluster records that a heal moved the store to another cluster
// (restored from a backup of its own): the old one is released, the new
// one is the kit's to release.
func (s *suite) replaceCluster(ctx context.Context, st *store, clusterID string) {
	old := st.Cluster.ID
	s.pool.mu.Lock()
	if s.pool.made[old] {
		s.pool.made[clusterID] = true
		s.pool.budget.ClustersMade++ // by the heal, for the kit
	}
	s.pool.used[clusterID] = true
	s.pool.mu.Unlock()
	st.Cluster.ID = clusterID
	s.releaseCluster(ctx, old)
}

// connecting records that a store of the kit starts a connect: KMS
// rotates kmsuser's password on every connect, so the store's cluster is
// of no use to another store after it.
func (s *suite) connecting(storeID string) {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	if st := s.pool.alive[storeID]; st != nil {
		st.changed = true
	}
}

// track records a store of the kit: new, or reused from an earlier run.
func (s *suite) track(st *store, reused bool) {
	p := &s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.alive == nil {
		p.alive, p.used = map[string]*store{}, map[string]bool{}
	}
	p.alive[st.ID] = st
	p.used[st.Cluster.ID] = true
	if reused {
		p.budget.StoresReused++
	} else {
		p.budget.StoresMade++
	}
	p.budget.StoresPeak = max(p.budget.StoresPeak, len(p.alive))
}

// storeGone records the end of a store of the kit: deleted, or left
// pending deletion.
func (s *suite) storeGone(st *store, deleted bool) {
	p := &s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.alive, st.ID)
	if deleted {
		p.budget.StoresDeleted++
	} else {
		p.budget.StoresPending = append(p.budget.StoresPending, st.ID)
	}
}

// finish is the run's clean-up: the shared store is deleted if its keys
// allow (else left for the next run), and every cluster the kit made is
// released.
func (s *suite) finish(ctx context.Context) {
	// A disconnect may take as long as a connect; then the clusters.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.connectTimeout()+5*time.Minute)
	defer cancel()
	if st := s.shared.current(); st != nil {
		deleted, err := tryRemoveStore(ctx, s.client(true), st.ID)
		if err != nil {
			ginkgo.GinkgoWriter.Printf("removing the shared store %s: %v\n", st.ID, err)
		}
		s.storeGone(st, deleted)
	}
	s.pool.mu.Lock()
	var made []string
	for id := range s.pool.made {
		made = append(made, id)
	}
	s.pool.mu.Unlock()
	for _, id := range made {
		s.releaseCluster(ctx, id)
	}
}
