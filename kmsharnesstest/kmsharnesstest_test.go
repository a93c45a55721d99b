package kmsharnesstest_test

import (
	"context"
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
}
