package harness_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/harness"
)

// Start a harness, make a custom key store on a ready cluster, connect it,
// and encrypt and decrypt with a key whose material lives in the HSMs —
// through the unmodified AWS SDK.
func ExampleStart() {
	ctx := context.Background()
	h, err := harness.Start(ctx)
	if err != nil {
		_ = h.Close(ctx) // Close releases what did start, even when Start fails
		log.Fatal(err)
	}
	defer h.Close(ctx)
	cluster, err := h.NewCluster(ctx) // ACTIVE, two HSMs in two zones, kmsuser created
	if err != nil {
		log.Fatal(err)
	}
	client := kms.New(kms.Options{
		Region: h.Region(), BaseEndpoint: aws.String(h.KMSEndpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, ""),
	})
	store, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("example"), CloudHsmClusterId: aws.String(cluster.ID),
		TrustAnchorCertificate: aws.String(string(cluster.TrustAnchorPEM)), KeyStorePassword: aws.String(cluster.KMSUserPassword),
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store.CustomKeyStoreId}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(waitForConnection(ctx, client, store.CustomKeyStoreId))
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: store.CustomKeyStoreId})
	if err != nil {
		log.Fatal(err)
	}
	enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("hello")})
	if err != nil {
		log.Fatal(err)
	}
	dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(dec.Plaintext))
	// Output:
	// CONNECTED
	// hello
}

// Lock kmsuser out of a cluster: a connect fails with USER_LOCKED_OUT. The
// heal resets kmsuser's password and reports it; AWS's repair path is to
// give KMS the new password and connect again.
func ExampleHarness_InjectFault() {
	ctx := context.Background()
	h, err := harness.Start(ctx)
	if err != nil {
		_ = h.Close(ctx)
		log.Fatal(err)
	}
	defer h.Close(ctx)
	cluster, err := h.NewCluster(ctx)
	if err != nil {
		log.Fatal(err)
	}
	client := kms.New(kms.Options{
		Region: h.Region(), BaseEndpoint: aws.String(h.KMSEndpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, ""),
	})
	store, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("example"), CloudHsmClusterId: aws.String(cluster.ID),
		TrustAnchorCertificate: aws.String(string(cluster.TrustAnchorPEM)), KeyStorePassword: aws.String(cluster.KMSUserPassword),
	})
	if err != nil {
		log.Fatal(err)
	}

	heal, err := h.InjectFault(ctx, faults.UserLockedOut(cluster.ID))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store.CustomKeyStoreId}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(waitForConnection(ctx, client, store.CustomKeyStoreId))

	report, err := heal(ctx) // the officer resets kmsuser's password
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: store.CustomKeyStoreId}); err != nil {
		log.Fatal(err)
	}
	for waitForConnection(ctx, client, store.CustomKeyStoreId) != "DISCONNECTED" {
	}
	if _, err := client.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{
		CustomKeyStoreId: store.CustomKeyStoreId, KeyStorePassword: aws.String(report.KMSUserPassword),
	}); err != nil {
		log.Fatal(err)
	}
	if _, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: store.CustomKeyStoreId}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(waitForConnection(ctx, client, store.CustomKeyStoreId))
	// Output:
	// FAILED USER_LOCKED_OUT
	// CONNECTED
}

// waitForConnection polls a store until it leaves the transient states and
// returns its state (and error code, when FAILED).
func waitForConnection(ctx context.Context, client *kms.Client, storeID *string) string {
	for {
		out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: storeID})
		if err != nil {
			log.Fatal(err)
		}
		st := out.CustomKeyStores[0]
		switch st.ConnectionState {
		case types.ConnectionStateTypeConnecting, types.ConnectionStateTypeDisconnecting:
			time.Sleep(10 * time.Millisecond)
		case types.ConnectionStateTypeFailed:
			return fmt.Sprintf("%s %s", st.ConnectionState, st.ConnectionErrorCode)
		default:
			return string(st.ConnectionState)
		}
	}
}
