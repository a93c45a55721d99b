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
	if sh.skip != "" {
		ginkgo.Skip(sh.skip)
	}
	if sh.st == nil {
		st, skip := openShared(ctx, s)
		if skip != "" {
			sh.skip = skip
			ginkgo.Skip(skip)
		}
		sh.st = st
	}
	repairShared(ctx, s, sh.st)
	return sh.st
}

// openShared finds the shared store of an earlier run on the shared
// cluster, or makes it.
func openShared(ctx context.Context, s *suite) (*store, string) {
	var cl Cluster
	if len(s.cfg.Clusters) > 0 {
		cl = s.cfg.Clusters[0]
	} else {
		var err error
		cl, err = s.makeCluster(ctx, false)
		if errors.Is(err, ErrNoCluster) {
			return nil, "needs a CloudHSM cluster for the store with keys: " + err.Error()
		}
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "making a cluster")
	}
	client := s.client(true)
	name := sharedStorePrefix + cl.ID
	out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String(name)})
	if err == nil && len(out.CustomKeyStores) == 1 && aws.ToString(out.CustomKeyStores[0].CloudHsmClusterId) == cl.ID {
		st := &store{ID: aws.ToString(out.CustomKeyStores[0].CustomKeyStoreId), Name: name, Cluster: cl}
		s.track(st, true)
		return st, ""
	}
	if err != nil && errorCode(err) != "CustomKeyStoreNotFoundException" {
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "DescribeCustomKeyStores %s", name)
	}
	if skip := roomForStore(ctx, s); skip != "" {
		return nil, skip
	}
	created, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cl.ID),
		TrustAnchorCertificate: aws.String(cl.TrustAnchorPEM), KeyStorePassword: aws.String(cl.KMSUserPassword),
	})
	if errorCode(err) == "CloudHsmClusterInUseException" {
		return nil, "needs a cluster for the store with keys: " + cl.ID + " is in use by a store that is not the kit's"
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "CreateCustomKeyStore for the shared store")
	st := &store{ID: aws.ToString(created.CustomKeyStoreId), Name: name, Cluster: cl}
	s.track(st, false)
	return st, ""
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
