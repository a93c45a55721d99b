package kmsharnesstest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/harness"
)

// Store is a custom key store a test made.
type Store struct {
	ID string
	// Cluster is the store's own cluster (a store needs one of its own).
	Cluster *harness.Cluster
}

// pollInterval is how often the helpers look at an asynchronous state.
const pollInterval = 10 * time.Millisecond

// NewStore makes a ready cluster and a DISCONNECTED custom key store on it,
// and registers their removal with tb.Cleanup: the store is disconnected,
// its keys are scheduled for deletion and go (days are short here), the
// store is deleted, then its cluster.
func (e *Env) NewStore(tb TB) Store {
	tb.Helper()
	ctx := tb.Context()
	cluster, err := e.Harness.NewCluster(ctx)
	if err != nil {
		tb.Fatalf("kmsharness: a cluster for a store: %v", err)
	}
	out, err := e.KMS.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName:     aws.String("kmsharnesstest-" + uuid.NewString()[:13]),
		CloudHsmClusterId:      aws.String(cluster.ID),
		TrustAnchorCertificate: aws.String(string(cluster.TrustAnchorPEM)),
		KeyStorePassword:       aws.String(cluster.KMSUserPassword),
	})
	if err != nil {
		_ = e.Harness.DeleteCluster(context.Background(), cluster.ID)
		tb.Fatalf("kmsharness: CreateCustomKeyStore: %v", err)
	}
	st := Store{ID: aws.ToString(out.CustomKeyStoreId), Cluster: cluster}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.removeStore(ctx, st); err != nil {
			tb.Fatalf("kmsharness: removing store %s: %v", st.ID, err)
		}
	})
	return st
}

// ConnectedStore is NewStore, then ConnectCustomKeyStore, waiting until the
// store is CONNECTED.
func (e *Env) ConnectedStore(tb TB) Store {
	tb.Helper()
	st := e.NewStore(tb)
	if entry := e.Connect(tb, st); entry.ConnectionState != types.ConnectionStateTypeConnected {
		tb.Fatalf("kmsharness: store %s is FAILED (%s), not CONNECTED", st.ID, entry.ConnectionErrorCode)
	}
	return st
}

// Connect connects the store and waits until the connect ends: CONNECTED,
// or FAILED with its ConnectionErrorCode. It returns the store's
// description then.
func (e *Env) Connect(tb TB, st Store) types.CustomKeyStoresListEntry {
	tb.Helper()
	if _, err := e.KMS.ConnectCustomKeyStore(tb.Context(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)}); err != nil {
		tb.Fatalf("kmsharness: ConnectCustomKeyStore %s: %v", st.ID, err)
	}
	return e.waitFor(tb, st.ID, types.ConnectionStateTypeConnected, types.ConnectionStateTypeFailed)
}

// Disconnect disconnects the store and waits until it is DISCONNECTED.
func (e *Env) Disconnect(tb TB, st Store) {
	tb.Helper()
	if _, err := e.KMS.DisconnectCustomKeyStore(tb.Context(), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)}); err != nil {
		tb.Fatalf("kmsharness: DisconnectCustomKeyStore %s: %v", st.ID, err)
	}
	e.WaitForState(tb, st.ID, types.ConnectionStateTypeDisconnected)
}

// Repair follows AWS's repair path after a heal: the store, which must be
// DISCONNECTED (after a failed connect, call Disconnect first, as AWS
// requires), is updated with what the heal reported — a new kmsuser
// password, a new related cluster, or nothing for faults such as
// network-errors that change neither — and connected again; it returns the
// store's description once the connect ends.
func (e *Env) Repair(tb TB, st Store, report faults.Report) types.CustomKeyStoresListEntry {
	tb.Helper()
	update := &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)}
	if report.KMSUserPassword != "" {
		update.KeyStorePassword = aws.String(report.KMSUserPassword)
	}
	if report.ClusterID != "" {
		update.CloudHsmClusterId = aws.String(report.ClusterID)
	}
	if update.KeyStorePassword != nil || update.CloudHsmClusterId != nil {
		if _, err := e.KMS.UpdateCustomKeyStore(tb.Context(), update); err != nil {
			tb.Fatalf("kmsharness: UpdateCustomKeyStore %s with what the heal reported: %v", st.ID, err)
		}
	}
	return e.Connect(tb, st)
}

// NewKey creates a KMS key whose material lives in the store's HSMs and
// returns its ID. The store must be CONNECTED; the key goes with the store.
func (e *Env) NewKey(tb TB, st Store) string {
	tb.Helper()
	out, err := e.KMS.CreateKey(tb.Context(), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(st.ID)})
	if err != nil {
		tb.Fatalf("kmsharness: CreateKey in %s: %v", st.ID, err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

// WaitForState polls the store until its ConnectionState is want (a minute
// at most) and returns its description. A store that ends FAILED while
// something else is awaited fails tb at once, with its error code.
func (e *Env) WaitForState(tb TB, storeID string, want types.ConnectionStateType) types.CustomKeyStoresListEntry {
	tb.Helper()
	entry := e.waitFor(tb, storeID, want, types.ConnectionStateTypeFailed)
	if entry.ConnectionState != want {
		tb.Fatalf("kmsharness: store %s is FAILED (%s) while waiting for %s", storeID, entry.ConnectionErrorCode, want)
	}
	return entry
}

// waitFor polls the store until its ConnectionState is one of states (a
// minute at most) and returns its description.
func (e *Env) waitFor(tb TB, storeID string, states ...types.ConnectionStateType) types.CustomKeyStoresListEntry {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	for {
		entry, err := e.describe(ctx, storeID)
		if err != nil {
			tb.Fatalf("kmsharness: DescribeCustomKeyStores %s: %v", storeID, err)
		}
		for _, s := range states {
			if entry.ConnectionState == s {
				return entry
			}
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("kmsharness: store %s is %s, not %v, after a minute", storeID, entry.ConnectionState, states)
		case <-time.After(pollInterval):
		}
	}
}

// Inject puts a fault in place and returns its heal, which reports what
// changed (a new kmsuser password or cluster ID, for UpdateCustomKeyStore).
// The heal also runs at tb's cleanup if the test did not call it.
func (e *Env) Inject(tb TB, f faults.Fault) func() faults.Report {
	tb.Helper()
	heal, err := e.Harness.InjectFault(tb.Context(), f)
	if err != nil {
		tb.Fatalf("kmsharness: inject %s: %v", f, err)
	}
	healNow := func() faults.Report {
		report, err := heal(context.Background())
		if err != nil {
			tb.Fatalf("kmsharness: heal %s: %v", f, err)
		}
		return report
	}
	tb.Cleanup(func() { healNow() })
	return healNow
}

func (e *Env) describe(ctx context.Context, storeID string) (types.CustomKeyStoresListEntry, error) {
	out, err := e.KMS.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
	if err != nil {
		return types.CustomKeyStoresListEntry{}, err
	}
	if len(out.CustomKeyStores) != 1 {
		return types.CustomKeyStoresListEntry{}, fmt.Errorf("%d stores described", len(out.CustomKeyStores))
	}
	return out.CustomKeyStores[0], nil
}

// removeStore deletes a store and its cluster: disconnect, schedule its
// keys' deletion, wait for them to go, delete the store, delete the
// cluster.
func (e *Env) removeStore(ctx context.Context, st Store) error {
	entry, err := e.describe(ctx, st.ID)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "CustomKeyStoreNotFoundException" {
		return e.Harness.DeleteCluster(ctx, st.Cluster.ID)
	}
	if err != nil {
		return err
	}
	keys, err := e.keysOf(ctx, st.ID)
	if err != nil {
		return err
	}
	for _, id := range keys {
		_, _ = e.KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	}
	if entry.ConnectionState != types.ConnectionStateTypeDisconnected && entry.ConnectionState != types.ConnectionStateTypeDisconnecting {
		if _, err := e.KMS.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)}); err != nil {
			return err
		}
	}
	for {
		_, err := e.KMS.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(st.ID)})
		if err == nil {
			break
		}
		if !errors.As(err, &ae) || (ae.ErrorCode() != "CustomKeyStoreHasCMKsException" && ae.ErrorCode() != "CustomKeyStoreInvalidStateException") {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the store's keys did not go: %w", err)
		case <-time.After(pollInterval):
		}
	}
	return e.Harness.DeleteCluster(ctx, st.Cluster.ID)
}

// keysOf lists the IDs of a store's keys.
func (e *Env) keysOf(ctx context.Context, storeID string) ([]string, error) {
	var ids []string
	p := kms.NewListKeysPaginator(e.KMS, &kms.ListKeysInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			d, err := e.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
			if err != nil {
				return nil, err
			}
			if aws.ToString(d.KeyMetadata.CustomKeyStoreId) == storeID && d.KeyMetadata.KeyState != types.KeyStatePendingDeletion {
				ids = append(ids, aws.ToString(k.KeyId))
			}
		}
	}
	return ids, nil
}
