package suites

import (
	"context"
	"errors"
	"testing"
)

// oneProcess makes the test a single Ginkgo process's, whatever runs it.
func oneProcess(t *testing.T) {
	was := parallelProcesses
	parallelProcesses = func() int { return 1 }
	t.Cleanup(func() { parallelProcesses = was })
}

// With one given cluster and no control API, the cluster is lent to
// specs' own stores until the shared store claims it, and never after a
// lent store connected on it.
func TestTheOnlyClusterIsLentUntilTheSharedStoreClaimsIt(t *testing.T) {
	oneProcess(t)
	ctx := context.Background()
	only := Cluster{ID: "cluster-aaaaaaaaaaa"}
	s := &suite{cfg: &Config{Clusters: []Cluster{only}}}

	if _, err := s.takeCluster(ctx, clusterConnected); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("a store that will connect got the shared store's cluster (err %v)", err)
	}
	if _, err := s.takeCluster(ctx, clusterFresh); !errors.Is(err, errNoFreshCluster) {
		t.Fatalf("a fault spec got a given cluster (err %v)", err)
	}
	cl, err := s.takeCluster(ctx, clusterKept)
	if err != nil || cl.ID != only.ID {
		t.Fatalf("a store that keeps the cluster as it is got %v, %v; want the only cluster", cl, err)
	}
	if _, err := s.takeCluster(ctx, clusterKept); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("the cluster was lent twice (err %v)", err)
	}
	if why := s.claimSharedCluster(); why != sharedClusterLent {
		t.Fatalf("the shared store's claim of a cluster that is lent out got %q", why)
	}
	s.giveBack(ctx, cl, false)
	if why := s.claimSharedCluster(); why != "" {
		t.Fatalf("the shared store could not claim the returned cluster: %s", why)
	}
	if _, err := s.takeCluster(ctx, clusterKept); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("the cluster was lent once the shared store claimed it (err %v)", err)
	}
}

func TestTheOnlyClusterIsLostToTheSharedStoreOnceALentStoreConnected(t *testing.T) {
	oneProcess(t)
	ctx := context.Background()
	s := &suite{cfg: &Config{Clusters: []Cluster{{ID: "cluster-aaaaaaaaaaa"}}}}
	cl, err := s.takeCluster(ctx, clusterKept)
	if err != nil {
		t.Fatal(err)
	}
	s.giveBack(ctx, cl, true)
	if why := s.claimSharedCluster(); why == "" {
		t.Fatal("the shared store claimed a cluster whose kmsuser password KMS rotated")
	}
	if _, err := s.takeCluster(ctx, clusterKept); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("a lost cluster was lent again (err %v)", err)
	}
}

// With two given clusters, both serve the specs' own stores (two at once
// for the rules about two stores) until the shared store claims the first.
func TestTwoGivenClustersServeOwnStoresAtOnce(t *testing.T) {
	oneProcess(t)
	ctx := context.Background()
	s := &suite{cfg: &Config{Clusters: []Cluster{{ID: "cluster-aaaaaaaaaaa"}, {ID: "cluster-bbbbbbbbbbb"}}}}
	a, err := s.takeCluster(ctx, clusterKept)
	if err != nil || a.ID != "cluster-bbbbbbbbbbb" {
		t.Fatalf("got %v, %v; want the second cluster first", a, err)
	}
	b, err := s.takeCluster(ctx, clusterKept)
	if err != nil || b.ID != "cluster-aaaaaaaaaaa" {
		t.Fatalf("got %v, %v; want the first cluster, lent", b, err)
	}
	s.giveBack(ctx, b, false)
	s.giveBack(ctx, a, false)
	if why := s.claimSharedCluster(); why != "" {
		t.Fatal(why)
	}
	if again, err := s.takeCluster(ctx, clusterKept); err != nil || again.ID != a.ID {
		t.Fatalf("got %v, %v; want the second cluster back from the pool", again, err)
	}
	if _, err := s.takeCluster(ctx, clusterKept); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("the shared store's cluster was lent after it claimed it (err %v)", err)
	}
}

// Under ginkgo -p each process has a pool of its own: none lends the
// cluster all of them share.
func TestNoProcessLendsUnderGinkgoP(t *testing.T) {
	was := parallelProcesses
	parallelProcesses = func() int { return 2 }
	t.Cleanup(func() { parallelProcesses = was })
	s := &suite{cfg: &Config{Clusters: []Cluster{{ID: "cluster-aaaaaaaaaaa"}}}}
	if _, err := s.takeCluster(context.Background(), clusterKept); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("a process lent the shared cluster (err %v)", err)
	}
}

// A lent store that cannot be deleted keeps the cluster: the shared store
// is told why, for the rest of the run.
func TestAStoreThatCannotBeDeletedStrandsTheLentCluster(t *testing.T) {
	oneProcess(t)
	s := &suite{cfg: &Config{Clusters: []Cluster{{ID: "cluster-aaaaaaaaaaa"}}}}
	cl, err := s.takeCluster(context.Background(), clusterKept)
	if err != nil {
		t.Fatal(err)
	}
	s.strand(cl, "cks-0123456789abcdef0")
	if why := s.claimSharedCluster(); why == "" || why == sharedClusterLent {
		t.Fatalf("the claim got %q; want why the cluster is lost", why)
	}
}
