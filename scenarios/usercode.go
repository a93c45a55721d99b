package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/middleware"
)

// UserClient is what WithUserCode hands your code: an AWS SDK client of the
// target whose every call goes into the run's history — so the checks judge
// them like the workload's — and the run's stores with their keys.
type UserClient struct {
	KMS    *kms.Client
	Stores []UserStore
}

// UserStore is one of the run's custom key stores.
type UserStore struct {
	ID        string
	ClusterID string
	// Keys are the CloudHSM keys the run made in it before the run.
	Keys []string
}

// WithUserCode runs fn as a client of the target during the run phase (its
// context ends with the phase): the code under test of a user's suite, its
// calls recorded and checked while the schedule injects and heals faults.
// Each call it makes through UserClient.KMS is one request (no retries);
// calls made at once go into the history as processes "user-0", "user-1", ….
func WithUserCode(fn func(ctx context.Context, c UserClient)) Option {
	return func(o *runOptions) { o.userCode = append(o.userCode, fn) }
}

// userWorkload marks the calls of the user's code in the history.
const userWorkload = "user code"

// userProcesses hands out process names to concurrent calls, so that each
// name makes one call at a time.
type userProcesses struct {
	mu   sync.Mutex
	busy []bool
}

func (u *userProcesses) take() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, b := range u.busy {
		if !b {
			u.busy[i] = true
			return i
		}
	}
	u.busy = append(u.busy, true)
	return len(u.busy) - 1
}

func (u *userProcesses) release(i int) {
	u.mu.Lock()
	u.busy[i] = false
	u.mu.Unlock()
}

// userClient returns the recording client WithUserCode hands out.
func (r *run) userClient() UserClient {
	procs := &userProcesses{}
	record := middleware.InitializeMiddlewareFunc("kmsharnessChaosRecord", func(ctx context.Context, in middleware.InitializeInput,
		next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		id := procs.take()
		defer procs.release(id)
		p := &process{name: fmt.Sprintf("user-%d", id), workload: userWorkload, phase: phaseRun}
		var out middleware.InitializeOutput
		var md middleware.Metadata
		var callErr error
		done := r.do(ctx, p, Operation{Call: middleware.GetOperationName(ctx)}, func(ctx context.Context, op *Operation) error {
			recordInput(op, in.Parameters)
			r.fileUnderStore(op)
			out, md, callErr = next.HandleInitialize(ctx, in)
			if callErr == nil {
				recordAnswer(op, out.Result)
				r.fileUnderStore(op)
			}
			return callErr
		})
		// A key the user's code made in a store of the run is checked and
		// cleaned up with the run's own.
		if done.isOK() && done.Call == callCreateKey {
			for _, st := range r.stores {
				if st.id == done.Store {
					st.mu.Lock()
					st.created = append(st.created, done.Key)
					st.mu.Unlock()
				}
			}
		}
		return out, md, callErr
	})
	client := kms.New(kms.Options{}, func(o *kms.Options) {
		*o = r.kms.Options()
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(record, middleware.Before)
		})
	})
	uc := UserClient{KMS: client}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.stores {
		uc.Stores = append(uc.Stores, UserStore{ID: st.id, ClusterID: r.clusters[st.index].id, Keys: append([]string(nil), st.keys...)})
	}
	return uc
}

// fileUnderStore names the store of a call on one of the run's keys (by
// ID or ARN), so that the checks file it with the store.
func (r *run) fileUnderStore(op *Operation) {
	if op.Store != "" || op.Key == "" {
		return
	}
	for _, st := range r.stores {
		st.mu.Lock()
		keys := append(append([]string(nil), st.keys...), st.created...)
		st.mu.Unlock()
		for _, k := range keys {
			if op.Key == k || strings.HasSuffix(op.Key, ":key/"+k) {
				op.Store, op.Key = st.id, k
				return
			}
		}
	}
}

// recordInput records what a call of the user's code acts on.
func recordInput(op *Operation, in any) {
	switch v := in.(type) {
	case *kms.EncryptInput:
		op.Key, op.Plaintext = aws.ToString(v.KeyId), digest(v.Plaintext)
	case *kms.DecryptInput:
		op.Key, op.Ciphertext = aws.ToString(v.KeyId), digest(v.CiphertextBlob)
	case *kms.ReEncryptInput:
		op.Key = aws.ToString(v.DestinationKeyId)
	case *kms.GenerateDataKeyInput:
		op.Key = aws.ToString(v.KeyId)
	case *kms.GenerateDataKeyWithoutPlaintextInput:
		op.Key = aws.ToString(v.KeyId)
	case *kms.DescribeKeyInput:
		op.Key = aws.ToString(v.KeyId)
	case *kms.EnableKeyInput:
		op.Key = aws.ToString(v.KeyId)
	case *kms.DisableKeyInput:
		op.Key = aws.ToString(v.KeyId)
	case *kms.GenerateRandomInput:
		op.Store = aws.ToString(v.CustomKeyStoreId)
	case *kms.CreateKeyInput:
		op.Store = aws.ToString(v.CustomKeyStoreId)
	case *kms.ConnectCustomKeyStoreInput:
		op.Store = aws.ToString(v.CustomKeyStoreId)
	case *kms.DisconnectCustomKeyStoreInput:
		op.Store = aws.ToString(v.CustomKeyStoreId)
	case *kms.DeleteCustomKeyStoreInput:
		op.Store = aws.ToString(v.CustomKeyStoreId)
	case *kms.DescribeCustomKeyStoresInput:
		op.Store = aws.ToString(v.CustomKeyStoreId)
	case *kms.UpdateCustomKeyStoreInput:
		op.Store, op.NewName, op.NewCluster = aws.ToString(v.CustomKeyStoreId), aws.ToString(v.NewCustomKeyStoreName), aws.ToString(v.CloudHsmClusterId)
		if v.KeyStorePassword != nil {
			op.Password = "given"
		}
	}
}

// recordAnswer records what the answer to a call of the user's code
// says.
func recordAnswer(op *Operation, out any) {
	switch v := out.(type) {
	case *kms.EncryptOutput:
		op.Ciphertext = digest(v.CiphertextBlob)
	case *kms.DecryptOutput:
		op.Plaintext = digest(v.Plaintext)
		if op.Key == "" {
			op.Key = aws.ToString(v.KeyId)
		}
	case *kms.ReEncryptOutput:
		op.Ciphertext = digest(v.CiphertextBlob)
	case *kms.GenerateDataKeyOutput:
		op.Ciphertext, op.Plaintext = digest(v.CiphertextBlob), digest(v.Plaintext)
	case *kms.GenerateDataKeyWithoutPlaintextOutput:
		op.Ciphertext = digest(v.CiphertextBlob)
	case *kms.CreateKeyOutput:
		if v.KeyMetadata != nil {
			op.Key = aws.ToString(v.KeyMetadata.KeyId)
		}
	case *kms.DescribeKeyOutput:
		if v.KeyMetadata != nil {
			op.KeyState = string(v.KeyMetadata.KeyState)
		}
	case *kms.DescribeCustomKeyStoresOutput:
		for _, e := range v.CustomKeyStores {
			if aws.ToString(e.CustomKeyStoreId) == op.Store {
				op.State, op.ErrorCode = string(e.ConnectionState), string(e.ConnectionErrorCode)
				op.Name, op.Cluster = aws.ToString(e.CustomKeyStoreName), aws.ToString(e.CloudHsmClusterId)
			}
		}
	}
}
