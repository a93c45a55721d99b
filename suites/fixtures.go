package suites

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/sdkhttp"
)

// How long the specs wait for an asynchronous transition by default
// (Config.ConnectTimeout): AWS documents that connecting a custom key store
// can take up to 20 minutes, so a slower target is no wrong one until
// then. And how often they look.
const (
	defaultConnectTimeout = 20 * time.Minute
	pollInterval          = 20 * time.Millisecond
)

// client returns the suite's KMS client for the target. retries=false gives
// one that does not retry (for specs that count on one attempt, such as
// quota ones: the SDK retries LimitExceededException). Both send through
// the suite's HTTP client (package sdkhttp), a transport of its own.
func (s *suite) client(retries bool) *kms.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if retries {
		i = 1
	}
	if s.clients[i] == nil {
		attempts := 1
		if retries {
			attempts = 3
		}
		s.clients[i] = kms.New(kms.Options{
			Region:           s.cfg.Region,
			BaseEndpoint:     aws.String(s.cfg.Endpoint),
			Credentials:      s.cfg.Credentials,
			HTTPClient:       s.httpClientLocked(),
			RetryMaxAttempts: attempts,
		})
	}
	return s.clients[i]
}

// httpClient returns the HTTP client the suite's calls go through.
func (s *suite) httpClient() *http.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpClientLocked()
}

func (s *suite) httpClientLocked() *http.Client {
	if s.http == nil {
		s.http = sdkhttp.NewClient()
	}
	return s.http
}

// errorCode returns the AWS error code of err, "" if it has none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// failWith matches an error with the given AWS error code.
func failWith(code string) gomega.OmegaMatcher {
	return gomega.WithTransform(func(err error) string { return errorCode(err) }, gomega.Equal(code))
}

// uniqueName returns a store or alias name no other spec uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%s", prefix, uuid.NewString()[:13])
}

// store is a custom key store of the kit: the shared one, or one made for
// one spec.
type store struct {
	ID      string
	Name    string
	Cluster Cluster
	// changed says that the cluster changed (a fault, or a connect, after
	// which kmsuser's password is one only KMS knows): it is not given to
	// another spec after the store, but deleted (or, if given, left).
	changed bool
}

// needCluster takes a cluster for the spec, no store on it, or skips the
// spec with the reason; the cluster goes back to the pool when the spec
// ends.
func needCluster(ctx context.Context, s *suite) Cluster {
	cl := takeOrSkip(ctx, s, clusterKept)
	ginkgo.DeferCleanup(func(ctx context.Context) { s.giveBack(ctx, cl, false) })
	return cl
}

// createRefused calls CreateCustomKeyStore where the spec expects a
// refusal, and returns the error; a store made nevertheless (by a wrong
// target) is removed when the spec ends.
func createRefused(ctx context.Context, s *suite, in *kms.CreateCustomKeyStoreInput) error {
	out, err := s.client(false).CreateCustomKeyStore(ctx, in)
	if err == nil {
		id := aws.ToString(out.CustomKeyStoreId)
		ginkgo.DeferCleanup(func(ctx context.Context) {
			if _, err := tryRemoveStore(ctx, s.client(true), id); err != nil {
				ginkgo.GinkgoWriter.Printf("removing store %s, made where a refusal was due: %v\n", id, err)
			}
		})
	}
	return err
}

func takeOrSkip(ctx context.Context, s *suite, need clusterNeed) Cluster {
	cl, err := s.takeCluster(ctx, need)
	return clusterOrSkip(s, cl, err)
}

// clusterOrSkip returns what takeCluster gave, or skips the spec with the
// reason it gave none, or fails it on another error.
func clusterOrSkip(s *suite, cl Cluster, err error) Cluster {
	if errors.Is(err, ErrNoCluster) && len(s.cfg.Clusters) == 1 {
		ginkgo.Skip("needs a second CloudHSM cluster no store uses: the only given cluster is in use (by the store with keys the specs share, which its keys pending deletion keep for 7 days, or by another store of this spec); give a second --cluster or a control API that makes clusters")
	}
	if errors.Is(err, ErrNoCluster) || errors.Is(err, errNoFreshCluster) {
		ginkgo.Skip("needs a CloudHSM cluster no store uses: " + err.Error())
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "making a cluster")
	return cl
}

// roomForStore returns why the account has no room for one more store
// ("" when it has): a full account is no reason to fail a spec.
func roomForStore(ctx context.Context, s *suite) string {
	if n, quota := countStores(ctx, s), s.cfg.storeQuota(); n >= quota {
		return fmt.Sprintf("needs room for a custom key store: the account has %d, its quota is %d (stores whose keys are pending deletion count until the keys are gone)", n, quota)
	}
	return ""
}

// countStores counts the account's custom key stores.
func countStores(ctx context.Context, s *suite) int {
	n := 0
	p := kms.NewDescribeCustomKeyStoresPaginator(s.client(true), &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "counting the account's custom key stores")
		n += len(page.CustomKeyStores)
	}
	return n
}

// Spec priorities, for a target with only one cluster (see takeCluster):
// the specs that make stores of their own run first, while that cluster is
// free to lend; then the spec that needs a store that never connected, on
// the shared store before anything connects it; then the rest. Ginkgo
// keeps this order under --randomize-all.
const (
	priorityOwnStore       = ginkgo.SpecPriority(2)
	priorityNeverConnected = ginkgo.SpecPriority(1)
)

// newStore creates a custom key store for the spec on a cluster no store
// uses, and registers its clean-up: it is deleted and its cluster goes
// back to the pool (a store the spec gave keys is left pending deletion).
// The store must never connect: its cluster may be the shared store's,
// lent (see takeCluster); a spec that connects its store uses
// newConnectingStore.
func newStore(ctx context.Context, s *suite) *store {
	return makeStore(ctx, s, takeOrSkip(ctx, s, clusterKept), false)
}

// newConnectingStore creates a store for the spec that it will connect:
// its cluster is deleted after it (or, if given, left alone), since KMS
// rotates kmsuser's password on a connect.
func newConnectingStore(ctx context.Context, s *suite) *store {
	return makeStore(ctx, s, takeOrSkip(ctx, s, clusterConnected), true)
}

// newFaultStore creates a store on a new cluster that the spec may change
// with faults; the cluster is deleted after the store.
func newFaultStore(ctx context.Context, s *suite) *store {
	return makeStore(ctx, s, takeOrSkip(ctx, s, clusterFresh), true)
}

// makeStore creates a store on cl for the spec. Whatever stops it before
// the store exists (a skip, a failed expectation) gives cl back; once it
// exists, its clean-up deletes it and gives cl back, or, if it cannot be
// deleted, leaves cl with it (see strand).
func makeStore(ctx context.Context, s *suite, cl Cluster, changed bool) *store {
	made := false
	defer func() {
		if !made {
			s.giveBack(context.WithoutCancel(ctx), cl, changed)
		}
	}()
	if skip := roomForStore(ctx, s); skip != "" {
		changed = false // nothing happened to the cluster
		ginkgo.Skip(skip)
	}
	name := uniqueName("conformance")
	out, err := s.client(true).CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cl.ID),
		TrustAnchorCertificate: aws.String(cl.TrustAnchorPEM), KeyStorePassword: aws.String(cl.KMSUserPassword),
	})
	if s.isLent(cl) && errorCode(err) == "CloudHsmClusterInUseException" {
		ginkgo.Skip("needs a CloudHSM cluster no store uses: the only given cluster holds a store already (the store with keys of an earlier run, which its keys pending deletion keep for 7 days); give a second --cluster or a control API that makes clusters")
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "CreateCustomKeyStore")
	st := &store{ID: aws.ToString(out.CustomKeyStoreId), Name: name, Cluster: cl, changed: changed}
	s.track(st, false)
	made = true
	ginkgo.DeferCleanup(func(ctx context.Context) {
		deleted := false
		defer func() {
			s.storeGone(st, deleted)
			if deleted {
				s.giveBack(context.WithoutCancel(ctx), st.Cluster, st.changed)
			} else {
				s.strand(st.Cluster, st.ID)
			}
		}()
		deleted = removeStore(ctx, s.client(true), st.ID)
	}, ginkgo.NodeTimeout(s.cfg.connectTimeout()+time.Minute))
	return st
}

// RemoveStore deletes a custom key store as far as the target allows:
// schedules the deletion of its keys (7 days), disconnects it, and deletes
// it once its keys are gone (at once on a target with short deletion
// windows, such as the harness in tests). It is the clean-up of the suites'
// stores, exported for specs of one's own.
func RemoveStore(ctx context.Context, client *kms.Client, storeID string) {
	removeStore(ctx, client, storeID)
}

// removeStore is RemoveStore; it reports whether the store is gone.
func removeStore(ctx context.Context, client *kms.Client, storeID string) bool {
	deleted, err := tryRemoveStore(ctx, client, storeID)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "removing store %s", storeID)
	return deleted
}

// tryRemoveStore removes a store as RemoveStore does; it reports whether
// the store is gone, and the error that stopped it.
func tryRemoveStore(ctx context.Context, client *kms.Client, storeID string) (bool, error) {
	desc, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
	if errorCode(err) == "CustomKeyStoreNotFoundException" {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	keys, err := keysOfStore(ctx, client, storeID)
	if err != nil {
		return false, err
	}
	for _, id := range keys {
		_, _ = client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for state := desc.CustomKeyStores[0].ConnectionState; state != types.ConnectionStateTypeDisconnected; {
		if state != types.ConnectionStateTypeDisconnecting {
			_, _ = client.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		desc, err = client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
		if err != nil {
			return false, err
		}
		state = desc.CustomKeyStores[0].ConnectionState
	}
	// Keys leave the store when their waiting period ends; a target with a
	// long one keeps the store, which is then left for its owner.
	deadline := time.After(5 * time.Second)
	for {
		_, err := client.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
		if errorCode(err) != "CustomKeyStoreHasCMKsException" {
			return err == nil, err
		}
		select {
		case <-tick.C:
		case <-deadline:
			ginkgo.GinkgoWriter.Printf("store %s kept: its keys are still pending deletion\n", storeID)
			return false, nil
		case <-ctx.Done():
			return false, nil
		}
	}
}

// keysOfStore lists the IDs of the keys in a store.
func keysOfStore(ctx context.Context, client *kms.Client, storeID string) ([]string, error) {
	var ids []string
	p := kms.NewListKeysPaginator(client, &kms.ListKeysInput{Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			d, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
			if err == nil && aws.ToString(d.KeyMetadata.CustomKeyStoreId) == storeID {
				ids = append(ids, aws.ToString(k.KeyId))
			}
		}
	}
	return ids, nil
}

// describeStore returns the store's entry.
func describeStore(ctx context.Context, s *suite, storeID string) types.CustomKeyStoresListEntry {
	out, err := s.client(true).DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	gomega.Expect(out.CustomKeyStores).To(gomega.HaveLen(1))
	return out.CustomKeyStores[0]
}

// fastPolls is how long a spec polls a store's transition every
// pollInterval; after it, once a second, so that waiting out a real
// account's connect (up to 20 minutes) costs at most one
// DescribeCustomKeyStores a second.
const fastPolls = 10 * time.Second

// paced returns describe wrapped so that, once fastPolls have passed, a
// call waits until a second has passed since the one before.
func paced(ctx context.Context, describe func() types.ConnectionStateType) func() types.ConnectionStateType {
	start := time.Now()
	var last time.Time
	return func() types.ConnectionStateType {
		if time.Since(start) > fastPolls {
			if wait := time.Second - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
		}
		last = time.Now()
		return describe()
	}
}

// waitForState polls until the store reaches state and returns its entry.
func waitForState(ctx context.Context, s *suite, storeID string, state types.ConnectionStateType) types.CustomKeyStoresListEntry {
	var entry types.CustomKeyStoresListEntry
	gomega.Eventually(ctx, paced(ctx, func() types.ConnectionStateType {
		entry = describeStore(ctx, s, storeID)
		return entry.ConnectionState
	})).WithTimeout(s.cfg.connectTimeout()).WithPolling(pollInterval).Should(gomega.Equal(state))
	return entry
}

// settle polls until the store is in no transient state (CONNECTING,
// DISCONNECTING) and returns its entry.
func settle(ctx context.Context, s *suite, storeID string) types.CustomKeyStoresListEntry {
	var entry types.CustomKeyStoresListEntry
	gomega.Eventually(ctx, paced(ctx, func() types.ConnectionStateType {
		entry = describeStore(ctx, s, storeID)
		return entry.ConnectionState
	})).WithTimeout(s.cfg.connectTimeout()).WithPolling(pollInterval).ShouldNot(gomega.BeElementOf(
		types.ConnectionStateTypeConnecting, types.ConnectionStateTypeDisconnecting), "the store settles")
	return entry
}

// transientCodes are the connection error codes of a connect that may
// succeed when tried again with nothing changed (the cluster's network, an
// internal error of the service).
var transientCodes = []types.ConnectionErrorCodeType{types.ConnectionErrorCodeTypeNetworkErrors, types.ConnectionErrorCodeTypeInternalError}

// connectAttempts bounds the connects of a fixture that meet a transient
// failure.
const connectAttempts = 4

// connect connects a store and waits until it is CONNECTED. It is a
// fixture: a connect that fails with a transient code (NETWORK_ERRORS,
// INTERNAL_ERROR) is tried again after a disconnect, as AWS advises, so
// that a spec about something else does not fail for a transient.
func connect(ctx context.Context, s *suite, storeID string) {
	s.connecting(storeID)
	var e types.CustomKeyStoresListEntry
	afterTransient := false
	for attempt := 1; ; attempt++ {
		_, err := s.client(true).ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
		gomega.Expect(err).NotTo(gomega.HaveOccurred(), "ConnectCustomKeyStore")
		e = settle(ctx, s, storeID)
		// A login whose answer a network error lost may keep kmsuser logged
		// in on an HSM until the HSM sees the connection gone: after a
		// transient failure, USER_LOGGED_IN is one too.
		retry := isTransient(e.ConnectionErrorCode) || (afterTransient && e.ConnectionErrorCode == types.ConnectionErrorCodeTypeUserLoggedIn)
		if e.ConnectionState != types.ConnectionStateTypeFailed || attempt == connectAttempts || !retry {
			break
		}
		afterTransient = true
		ginkgo.GinkgoWriter.Printf("connect of %s failed with %s (transient): trying again\n", storeID, e.ConnectionErrorCode)
		disconnect(ctx, s, storeID)
	}
	gomega.Expect(e.ConnectionState).To(gomega.Equal(types.ConnectionStateTypeConnected), "the connect ends CONNECTED (error code %q)", e.ConnectionErrorCode)
	gomega.Expect(e.ConnectionErrorCode).To(gomega.BeEmpty())
}

func isTransient(code types.ConnectionErrorCodeType) bool {
	for _, t := range transientCodes {
		if code == t {
			return true
		}
	}
	return false
}

// disconnect disconnects a store and waits until it is DISCONNECTED.
func disconnect(ctx context.Context, s *suite, storeID string) {
	_, err := s.client(true).DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "DisconnectCustomKeyStore")
	waitForState(ctx, s, storeID, types.ConnectionStateTypeDisconnected)
}

// connectedStore makes a store for the spec and connects it.
func connectedStore(ctx context.Context, s *suite) *store {
	st := newConnectingStore(ctx, s)
	connect(ctx, s, st.ID)
	return st
}

// newHSMKey creates a key in a connected store; it is scheduled for
// deletion (the shortest window, 7 days) when the spec ends. It is a
// fixture: a CreateKey that fails with KMSInternalException is tried again
// until the connect timeout, as AWS advises, because KMS answers that while
// it cannot put a new key on two HSMs — right after an HSM of the cluster
// came back, before KMS is logged in there again.
func newHSMKey(ctx context.Context, s *suite, storeID string) *types.KeyMetadata {
	var made *types.KeyMetadata
	gomega.Eventually(ctx, func() error {
		out, err := s.client(true).CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(storeID),
			Description: aws.String("conformance")})
		switch {
		case err == nil:
			made = out.KeyMetadata
		case errorCode(err) != "KMSInternalException":
			return gomega.StopTrying("CreateKey failed").Wrap(err)
		}
		return err
	}).WithTimeout(s.cfg.connectTimeout()).WithPolling(createKeyRetry).Should(gomega.Succeed(), "CreateKey")
	scheduleDeletionLater(s, made.KeyId)
	return made
}

// createKeyRetry is how long newHSMKey waits before it tries a CreateKey
// that failed with KMSInternalException again.
const createKeyRetry = 200 * time.Millisecond

// scheduleDeletionLater schedules the key's deletion when the spec ends
// (an error, such as a key already pending deletion, is no concern).
func scheduleDeletionLater(s *suite, keyID *string) {
	ginkgo.DeferCleanup(func(ctx context.Context) {
		_, _ = s.client(true).ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: keyID, PendingWindowInDays: aws.Int32(7)})
	})
}

// newKMSKey creates an AWS_KMS-origin key, scheduled for deletion at clean-up.
func newKMSKey(ctx context.Context, s *suite) *types.KeyMetadata {
	out, err := s.client(true).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("conformance")})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "CreateKey")
	scheduleDeletionLater(s, out.KeyMetadata.KeyId)
	return out.KeyMetadata
}
