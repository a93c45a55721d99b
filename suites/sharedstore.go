package suites

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// sharedStorePrefix starts the name of the store the specs that need keys
// share; its cluster's ID follows, so that a later run with the same
// cluster finds it again (its keys keep it for at least 7 days).
const sharedStorePrefix = "kmsharness-conformance-keys-"

// sharedStore is the one store with keys of a registration, made (or found
// again) on first use. Specs in one process run one at a time, so each may
// disconnect it or change its password as long as it puts it back.
type sharedStore struct {
	mu   sync.Mutex
	st   *store
	skip string // why there is none, once that is known
	// neverConnected says that this run made the store and nothing has
	// connected it yet, so kmsuser's password is still the given one.
	neverConnected bool
}

func (sh *sharedStore) current() *store {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.st
}

// useShared returns the shared store, CONNECTED, making or finding it on
// first use; it skips the spec with the reason when there is no cluster
// for it.
func useShared(ctx context.Context, s *suite) *store {
	sh := &s.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.openLocked(ctx, s)
	repairShared(ctx, s, st)
	sh.neverConnected = false
	return st
}

// openLocked returns the shared store as it is, opening it on first use,
// or skips the spec with the reason there is none. sh.mu is held.
func (sh *sharedStore) openLocked(ctx context.Context, s *suite) *store {
	if sh.skip != "" {
		ginkgo.Skip(sh.skip)
	}
	if sh.st == nil {
		st, made, skip := openShared(ctx, s)
		if skip != "" {
			if skip != sharedClusterLent { // the only reason that passes
				sh.skip = skip
			}
			ginkgo.Skip(skip)
		}
		sh.st, sh.neverConnected = st, made
	}
	return sh.st
}

// neverConnectedStore returns a store that has never connected, so that
// kmsuser's password on its cluster is still the given one, for a spec
// that will connect it: a store of its own, or, with only one cluster, the
// shared store while nothing has connected it yet (the spec's priority
// runs it before the other specs that use it). The shared store is put
// back DISCONNECTED with the given password if the spec leaves it
// otherwise unconnected.
func neverConnectedStore(ctx context.Context, s *suite) *store {
	cl, err := s.takeCluster(ctx, clusterConnected)
	if !errors.Is(err, ErrNoCluster) || len(s.cfg.Clusters) != 1 {
		return makeStore(ctx, s, clusterOrSkip(s, cl, err), true)
	}
	sh := &s.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.openLocked(ctx, s)
	if !sh.neverConnected {
		ginkgo.Skip("needs a store that never connected: the only given cluster's store with keys has connected (KMS rotated kmsuser's password to one only it knows); give a second --cluster or a control API that makes clusters")
	}
	sh.neverConnected = false
	ginkgo.DeferCleanup(func(ctx context.Context) { restoreNeverConnected(ctx, s, st) })
	return st
}

// restoreNeverConnected puts the shared store, which never connected,
// back DISCONNECTED with its cluster's password after a spec that did not
// leave it CONNECTED (a failed one).
func restoreNeverConnected(ctx context.Context, s *suite, st *store) {
	client := s.client(true)
	e := settle(ctx, s, st.ID)
	if e.ConnectionState == types.ConnectionStateTypeConnected {
		return
	}
	if e.ConnectionState != types.ConnectionStateTypeDisconnected {
		disconnect(ctx, s, st.ID)
	}
	_, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), KeyStorePassword: aws.String(st.Cluster.KMSUserPassword)})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "putting the shared store's password back")
	s.shared.mu.Lock()
	s.shared.neverConnected = true
	s.shared.mu.Unlock()
}

// openShared finds the shared store of an earlier run on the shared
// cluster, or makes it (made says so), or returns why it cannot.
func openShared(ctx context.Context, s *suite) (*store, bool, string) {
	var cl Cluster
	if len(s.cfg.Clusters) > 0 {
		if skip := s.claimSharedCluster(); skip != "" {
			return nil, false, skip
		}
		cl = s.cfg.Clusters[0]
	} else {
		var err error
		cl, err = s.makeCluster(ctx, false)
		if errors.Is(err, ErrNoCluster) {
			return nil, false, "needs a CloudHSM cluster for the store with keys: " + err.Error()
		}
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "making a cluster")
	}
	client := s.client(true)
	name := sharedStorePrefix + cl.ID
	out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String(name)})
	if err == nil && len(out.CustomKeyStores) == 1 && aws.ToString(out.CustomKeyStores[0].CloudHsmClusterId) == cl.ID {
		st := &store{ID: aws.ToString(out.CustomKeyStores[0].CustomKeyStoreId), Name: name, Cluster: cl}
		s.track(st, true)
		return st, false, ""
	}
	if err != nil && errorCode(err) != "CustomKeyStoreNotFoundException" {
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "DescribeCustomKeyStores %s", name)
	}
	if skip := roomForStore(ctx, s); skip != "" {
		return nil, false, skip
	}
	created, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cl.ID),
		TrustAnchorCertificate: aws.String(cl.TrustAnchorPEM), KeyStorePassword: aws.String(cl.KMSUserPassword),
	})
	if errorCode(err) == "CloudHsmClusterInUseException" {
		return nil, false, "needs a cluster for the store with keys: " + cl.ID + " is in use by a store that is not the kit's"
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "CreateCustomKeyStore for the shared store")
	st := &store{ID: aws.ToString(created.CustomKeyStoreId), Name: name, Cluster: cl}
	s.track(st, false)
	return st, true, ""
}

// repairShared puts the shared store back the way specs expect it:
// CONNECTED, with its name. Its password is never set again: KMS rotated
// kmsuser's to one only it knows when the store first connected.
func repairShared(ctx context.Context, s *suite, st *store) {
	client := s.client(true)
	e := settle(ctx, s, st.ID)
	if aws.ToString(e.CustomKeyStoreName) != st.Name {
		_, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID), NewCustomKeyStoreName: aws.String(st.Name)})
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "putting the shared store's name back")
	}
	if e.ConnectionState == types.ConnectionStateTypeConnected {
		return
	}
	if e.ConnectionState != types.ConnectionStateTypeDisconnected {
		disconnect(ctx, s, st.ID)
	}
	connect(ctx, s, st.ID)
}
