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
)

// Timeouts of asynchronous transitions the specs wait for. AWS takes up to
// 20 minutes to connect; targets meant for these suites answer in seconds.
const (
	connectTimeout = 60 * time.Second
	pollInterval   = 20 * time.Millisecond
)

// client returns the suite's KMS client for the target. retries=false gives
// one that does not retry (for specs that count on one attempt, such as
// quota ones: the SDK retries LimitExceededException). Each has a transport
// of its own, so nothing else in the process can close its connections.
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
			HTTPClient:       &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
			RetryMaxAttempts: attempts,
		})
	}
	return s.clients[i]
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

// store is a custom key store made for one spec.
type store struct {
	ID      string
	Name    string
	Cluster Cluster
}

// needCluster takes a cluster for the spec, or skips it with the reason.
func needCluster(ctx context.Context, s *suite) Cluster {
	cl, err := s.takeCluster(ctx)
	if errors.Is(err, ErrNoCluster) {
		ginkgo.Skip("needs a CloudHSM cluster: " + err.Error())
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "making a cluster")
	return cl
}

// newStore creates a custom key store on a fresh cluster and registers its
// clean-up: disconnect, schedule deletion of its keys, and delete it once
// they are gone (which a target with a short deletion window allows).
func newStore(ctx context.Context, s *suite) store {
	cl := needCluster(ctx, s)
	name := uniqueName("conformance")
	out, err := s.client(true).CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cl.ID),
		TrustAnchorCertificate: aws.String(cl.TrustAnchorPEM), KeyStorePassword: aws.String(cl.KMSUserPassword),
	})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "CreateCustomKeyStore")
	st := store{ID: aws.ToString(out.CustomKeyStoreId), Name: name, Cluster: cl}
	ginkgo.DeferCleanup(func(ctx context.Context) { RemoveStore(ctx, s.client(true), st.ID) }, ginkgo.NodeTimeout(2*time.Minute))
	return st
}

// RemoveStore deletes a custom key store as far as the target allows:
// schedules the deletion of its keys (7 days), disconnects it, and deletes
// it once its keys are gone (at once on a target with short deletion
// windows, such as the harness in tests). It is the clean-up of the suites'
// stores, exported for specs of one's own.
func RemoveStore(ctx context.Context, client *kms.Client, storeID string) {
	desc, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
	if errorCode(err) == "CustomKeyStoreNotFoundException" {
		return
	}
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	keys := keysOfStore(ctx, client, storeID)
	for _, id := range keys {
		_, _ = client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	}
	if state := desc.CustomKeyStores[0].ConnectionState; state != types.ConnectionStateTypeDisconnected && state != types.ConnectionStateTypeDisconnecting {
		_, _ = client.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
	}
	waitWith(ctx, client, storeID, types.ConnectionStateTypeDisconnected)
	// Keys leave the store when their waiting period ends; a target with a
	// long one keeps the store, which is then left for its owner.
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		_, err := client.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
		if errorCode(err) != "CustomKeyStoreHasCMKsException" {
			gomega.Expect(err).NotTo(gomega.HaveOccurred(), "DeleteCustomKeyStore")
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			ginkgo.GinkgoWriter.Printf("store %s kept: its keys are still pending deletion\n", storeID)
			return
		case <-ctx.Done():
			return
		}
	}
}

// keysOfStore lists the IDs of the keys in a store.
func keysOfStore(ctx context.Context, client *kms.Client, storeID string) []string {
	var ids []string
	p := kms.NewListKeysPaginator(client, &kms.ListKeysInput{Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		for _, k := range page.Keys {
			d, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
			if err == nil && aws.ToString(d.KeyMetadata.CustomKeyStoreId) == storeID {
				ids = append(ids, aws.ToString(k.KeyId))
			}
		}
	}
	return ids
}

// describeStore returns the store's entry.
func describeStore(ctx context.Context, s *suite, storeID string) types.CustomKeyStoresListEntry {
	return describeWith(ctx, s.client(true), storeID)
}

func describeWith(ctx context.Context, client *kms.Client, storeID string) types.CustomKeyStoresListEntry {
	out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	gomega.Expect(out.CustomKeyStores).To(gomega.HaveLen(1))
	return out.CustomKeyStores[0]
}

// waitForState polls until the store reaches state and returns its entry.
func waitForState(ctx context.Context, s *suite, storeID string, state types.ConnectionStateType) types.CustomKeyStoresListEntry {
	return waitWith(ctx, s.client(true), storeID, state)
}

func waitWith(ctx context.Context, client *kms.Client, storeID string, state types.ConnectionStateType) types.CustomKeyStoresListEntry {
	var entry types.CustomKeyStoresListEntry
	gomega.Eventually(ctx, func() types.ConnectionStateType {
		entry = describeWith(ctx, client, storeID)
		return entry.ConnectionState
	}).WithTimeout(connectTimeout).WithPolling(pollInterval).Should(gomega.Equal(state))
	return entry
}

// connect connects a store and waits until it is CONNECTED.
func connect(ctx context.Context, s *suite, storeID string) {
	_, err := s.client(true).ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "ConnectCustomKeyStore")
	entry := waitForState(ctx, s, storeID, types.ConnectionStateTypeConnected)
	gomega.Expect(entry.ConnectionErrorCode).To(gomega.BeEmpty())
}

// disconnect disconnects a store and waits until it is DISCONNECTED.
func disconnect(ctx context.Context, s *suite, storeID string) {
	_, err := s.client(true).DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID)})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "DisconnectCustomKeyStore")
	waitForState(ctx, s, storeID, types.ConnectionStateTypeDisconnected)
}

// connectedStore makes a store and connects it.
func connectedStore(ctx context.Context, s *suite) store {
	st := newStore(ctx, s)
	connect(ctx, s, st.ID)
	return st
}

// newHSMKey creates a key in a connected store.
func newHSMKey(ctx context.Context, s *suite, storeID string) *types.KeyMetadata {
	out, err := s.client(true).CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(storeID),
		Description: aws.String("conformance")})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "CreateKey")
	return out.KeyMetadata
}

// newKMSKey creates an AWS_KMS-origin key, scheduled for deletion at clean-up.
func newKMSKey(ctx context.Context, s *suite) *types.KeyMetadata {
	out, err := s.client(true).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("conformance")})
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "CreateKey")
	ginkgo.DeferCleanup(func(ctx context.Context) {
		_, _ = s.client(true).ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: out.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)})
	})
	return out.KeyMetadata
}
