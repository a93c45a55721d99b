package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsharness/kmsharness/internal/sdkhttp"
)

// The operations a bench drives.
const (
	OpEncrypt         = "encrypt"
	OpDecrypt         = "decrypt"
	OpGenerateDataKey = "generate-data-key"
	OpGenerateRandom  = "generate-random"
	OpCreateKey       = "create-key"
)

// Ops lists the operations in the order help texts show them.
var Ops = []string{OpEncrypt, OpDecrypt, OpGenerateDataKey, OpGenerateRandom, OpCreateKey}

// NewStore is the literal store ID that asks Prepare to create a custom key
// store (from Workload.Cluster) instead of using an existing one.
const NewStore = "new"

// ErrInvalidWorkload marks a workload that cannot run as given (an unknown
// operation, a size out of range, flags that exclude each other).
var ErrInvalidWorkload = errors.New("invalid workload")

// DefaultSizes are the sizes used when Workload.Size is 0.
var DefaultSizes = map[string]int{OpEncrypt: 4096, OpDecrypt: 4096, OpGenerateDataKey: 32, OpGenerateRandom: 32}

// Workload says what to drive: an operation and the key or key store it
// runs with. What it lacks, Prepare sets up.
type Workload struct {
	Op string
	// Size is the plaintext size (encrypt, decrypt), the data key size
	// (generate-data-key) or the number of random bytes (generate-random).
	Size int
	// KeyID is the key to use (encrypt, decrypt, generate-data-key). Empty:
	// Prepare creates one (in StoreID, if set) and schedules its deletion
	// when the run is over.
	KeyID string
	// StoreID is a custom key store: keys are created in it, and random
	// bytes come from its cluster. A DISCONNECTED store is connected first.
	// NewStore creates one from Cluster.
	StoreID string
	// Cluster is what a new store is made from.
	Cluster ClusterRef
}

// ClusterRef is what CreateCustomKeyStore needs (what `kmsharness up
// --print-env` prints as CLUSTER_ID, TRUST_ANCHOR_FILE's content and
// KMSUSER_PASSWORD).
type ClusterRef struct {
	ID              string
	TrustAnchorPEM  string
	KMSUserPassword string
}

// Prepared is a workload ready to run.
type Prepared struct {
	Op Op
	// Setup describes what Prepare used or made, one line each.
	Setup []string
	// Cleanup undoes what Prepare made that can be undone (a key it created
	// is scheduled for deletion); a store it created is left, for reuse.
	Cleanup func(ctx context.Context) error
}

// NewClient returns one KMS client for every worker: credentials and
// region come from the environment and shared configuration as the aws CLI
// reads them; endpoint, if set, overrides the service's. The client does
// not retry (a bench counts failures rather than hiding them), keeps an
// idle connection per worker, and sends request bodies so that the SDK's
// early close of a body cannot fail a call (see package sdkbody).
func NewClient(ctx context.Context, endpoint, region string, workers int) (*kms.Client, error) {
	return newClient(ctx, endpoint, region, workers, func(*http.Transport) {})
}

// newClient is NewClient with a last change to the transport.
func newClient(ctx context.Context, endpoint, region string, workers int, tune func(*http.Transport)) (*kms.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no region: set AWS_REGION or --region")
	}
	httpClient := sdkhttp.NewClient(func(t *http.Transport) {
		t.MaxIdleConns = max(t.MaxIdleConns, workers)
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, workers)
	}, tune)
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.HTTPClient = httpClient
		o.Retryer = aws.NopRetryer{}
	}), nil
}

// Prepare checks the workload and sets up what it needs against the
// endpoint of client. Setting up retries what the SDK retries by default
// (unlike the load itself).
func Prepare(ctx context.Context, client *kms.Client, w Workload) (*Prepared, error) {
	setup := kms.New(client.Options(), func(o *kms.Options) { o.Retryer = retry.NewStandard() })
	if w.Size == 0 {
		w.Size = DefaultSizes[w.Op]
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	p := &Prepared{Cleanup: func(context.Context) error { return nil }}
	if w.StoreID != "" {
		id, made, err := readyStore(ctx, setup, w)
		if err != nil {
			return nil, err
		}
		w.StoreID = id
		if made {
			p.Setup = append(p.Setup, fmt.Sprintf("created and connected custom key store %s (reuse it with --store %s)", id, id))
		} else {
			p.Setup = append(p.Setup, fmt.Sprintf("custom key store %s is CONNECTED", id))
		}
	}
	if w.KeyID == "" && w.Op != OpGenerateRandom && w.Op != OpCreateKey {
		out, err := setup.CreateKey(ctx, createKeyInput(w.StoreID))
		if err != nil {
			return nil, fmt.Errorf("create a key for the run: %w", err)
		}
		w.KeyID = aws.ToString(out.KeyMetadata.KeyId)
		p.Setup = append(p.Setup, fmt.Sprintf("created key %s (origin %s); its deletion is scheduled after the run", w.KeyID, out.KeyMetadata.Origin))
		p.Cleanup = func(ctx context.Context) error {
			_, err := setup.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(w.KeyID), PendingWindowInDays: aws.Int32(7)})
			return err
		}
	}
	op, err := w.op(ctx, setup, client)
	if err != nil {
		return nil, err
	}
	p.Op = op
	return p, nil
}

func (w Workload) check() error {
	switch w.Op {
	case OpEncrypt, OpDecrypt:
		if w.Size < 1 || w.Size > 4096 {
			return invalid("--size for %s must be 1 to 4096 bytes (KMS's plaintext limit)", w.Op)
		}
	case OpGenerateDataKey, OpGenerateRandom:
		if w.Size < 1 || w.Size > 1024 {
			return invalid("--size for %s must be 1 to 1024 bytes", w.Op)
		}
	case OpCreateKey:
		if w.KeyID != "" {
			return invalid("create-key takes --store, not --key")
		}
	default:
		return invalid("unknown operation %q (one of %v)", w.Op, Ops)
	}
	if w.KeyID != "" && w.StoreID != "" {
		return invalid("give --key or --store, not both")
	}
	if w.KeyID != "" && w.Op == OpGenerateRandom {
		return invalid("generate-random takes --store, not --key")
	}
	if w.StoreID == NewStore && (w.Cluster.ID == "" || w.Cluster.TrustAnchorPEM == "" || w.Cluster.KMSUserPassword == "") {
		return invalid("a new store needs a cluster ID, its trust anchor and the kmsuser password")
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidWorkload}, args...)...)
}

func createKeyInput(storeID string) *kms.CreateKeyInput {
	in := &kms.CreateKeyInput{Description: aws.String("kmsharness bench")}
	if storeID != "" {
		in.Origin, in.CustomKeyStoreId = types.OriginTypeAwsCloudhsm, aws.String(storeID)
	}
	return in
}

// op returns the operation the workers repeat on client; what it prepares
// first goes through setup.
func (w Workload) op(ctx context.Context, setup, client *kms.Client) (Op, error) {
	switch w.Op {
	case OpEncrypt:
		plaintext := randomBytes(w.Size)
		return func(ctx context.Context, _ int) error {
			_, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(w.KeyID), Plaintext: plaintext})
			return err
		}, nil
	case OpDecrypt:
		out, err := setup.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(w.KeyID), Plaintext: randomBytes(w.Size)})
		if err != nil {
			return nil, fmt.Errorf("encrypt the ciphertext to decrypt: %w", err)
		}
		blob := out.CiphertextBlob
		return func(ctx context.Context, _ int) error {
			_, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(w.KeyID)})
			return err
		}, nil
	case OpGenerateDataKey:
		return func(ctx context.Context, _ int) error {
			_, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(w.KeyID), NumberOfBytes: aws.Int32(int32(w.Size))})
			return err
		}, nil
	case OpGenerateRandom:
		in := &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(int32(w.Size))}
		if w.StoreID != "" {
			in.CustomKeyStoreId = aws.String(w.StoreID)
		}
		return func(ctx context.Context, _ int) error {
			_, err := client.GenerateRandom(ctx, in)
			return err
		}, nil
	case OpCreateKey:
		in := createKeyInput(w.StoreID)
		return func(ctx context.Context, _ int) error {
			_, err := client.CreateKey(ctx, in)
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", w.Op)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// storeConnectTimeout bounds the wait for a store to connect.
const storeConnectTimeout = 2 * time.Minute

// readyStore returns a CONNECTED store: the one named (connected first if
// it is DISCONNECTED), or a new one made from w.Cluster.
func readyStore(ctx context.Context, client *kms.Client, w Workload) (id string, made bool, err error) {
	id = w.StoreID
	if id == NewStore {
		out, err := client.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
			CustomKeyStoreName:     aws.String("kmsharness-bench-" + rand.Text()[:8]),
			CloudHsmClusterId:      aws.String(w.Cluster.ID),
			TrustAnchorCertificate: aws.String(w.Cluster.TrustAnchorPEM),
			KeyStorePassword:       aws.String(w.Cluster.KMSUserPassword),
		})
		if err != nil {
			return "", false, fmt.Errorf("create a custom key store: %w", err)
		}
		id, made = aws.ToString(out.CustomKeyStoreId), true
	}
	deadline := time.Now().Add(storeConnectTimeout)
	connectSent := false
	for {
		state, err := storeState(ctx, client, id)
		if err != nil {
			return "", made, err
		}
		switch {
		case state == types.ConnectionStateTypeConnected:
			return id, made, nil
		case state == types.ConnectionStateTypeDisconnected && !connectSent:
			if _, err := client.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
				return "", made, fmt.Errorf("connect custom key store %s: %w", id, err)
			}
			connectSent = true
		case state != types.ConnectionStateTypeConnecting:
			return "", made, fmt.Errorf("custom key store %s is %s; disconnect it or give a CONNECTED store", id, state)
		}
		if time.Now().After(deadline) {
			return "", made, fmt.Errorf("custom key store %s still CONNECTING after %s", id, storeConnectTimeout)
		}
		select {
		case <-ctx.Done():
			return "", made, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func storeState(ctx context.Context, client *kms.Client, id string) (types.ConnectionStateType, error) {
	out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("describe custom key store %s: %w", id, err)
	}
	if len(out.CustomKeyStores) != 1 {
		return "", fmt.Errorf("custom key store %s: %d stores described", id, len(out.CustomKeyStores))
	}
	st := out.CustomKeyStores[0]
	if st.ConnectionState == types.ConnectionStateTypeFailed {
		return st.ConnectionState, fmt.Errorf("custom key store %s is FAILED (%s)", id, st.ConnectionErrorCode)
	}
	return st.ConnectionState, nil
}
