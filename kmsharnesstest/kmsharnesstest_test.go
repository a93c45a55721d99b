package kmsharnesstest_test

import (
	"context"
	"net/http/httptrace"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/kmsharnesstest"
)

// One harness for the package's tests, as a user's TestMain-less suite
// would have it: started by the first test that needs it.
func TestEnv(t *testing.T) {
	env := kmsharnesstest.Start(t)
	if env.Cluster == nil || env.Cluster.ID == "" || env.KMS == nil {
		t.Fatalf("Start returned %+v", env)
	}

	var storeID, clusterID string
	t.Run("a connected store, a key, a fault injected and healed", func(t *testing.T) {
		st := env.ConnectedStore(t)
		storeID, clusterID = st.ID, st.Cluster.ID
		keyID := env.NewKey(t, st)
		enc, err := env.KMS.Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hello")})
		if err != nil {
			t.Fatal(err)
		}

		heal := env.Inject(t, faults.UserLockedOut(st.Cluster.ID))
		env.Disconnect(t, st)
		if got := env.Connect(t, st); got.ConnectionState != types.ConnectionStateTypeFailed || got.ConnectionErrorCode != types.ConnectionErrorCodeTypeUserLockedOut {
			t.Fatalf("connect while kmsuser is locked out: %s %s", got.ConnectionState, got.ConnectionErrorCode)
		}
		env.Disconnect(t, st)
		if got := env.Repair(t, st, heal()); got.ConnectionState != types.ConnectionStateTypeConnected {
			t.Fatalf("after the repair: %s %s", got.ConnectionState, got.ConnectionErrorCode)
		}
		dec, err := env.KMS.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "hello" {
			t.Fatalf("Decrypt after the repair = %q, %v", dec.Plaintext, err)
		}
	})

	// The subtest's cleanups removed its store and its cluster.
	_, err := env.KMS.DescribeCustomKeyStores(context.Background(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
	if err == nil {
		t.Errorf("store %s is still there after its test", storeID)
	}
	if _, known := env.Harness.ClusterByID(clusterID); known {
		t.Errorf("cluster %s is still there after its test", clusterID)
	}

	// The SDK closes a request body as soon as the answer's header is in;
	// with a body over 4 KiB that close must not break net/http's write of
	// the request (the transport would close the connection under the
	// answer: a call fails now and then, or is retried).
	t.Run("Encrypts of 4 KiB plaintexts: every request is written without an error", func(t *testing.T) {
		key, err := env.KMS.CreateKey(t.Context(), &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = env.KMS.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: key.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)})
		})
		var writeErrs atomic.Int32
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				writeErrs.Add(1)
			}
		}})
		plaintext := make([]byte, 4096)
		const calls = 300
		for i := range calls {
			if _, err := env.KMS.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plaintext}); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if n := writeErrs.Load(); n != 0 {
			t.Errorf("%d of %d requests failed to be written", n, calls)
		}
	})
}
