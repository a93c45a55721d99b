package kms

import (
	"context"
	"crypto/rand"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/kmsharness/kmsharness/internal/awsjson"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

type createKeyInput struct {
	Description           string
	KeyUsage              string
	KeySpec               string
	CustomerMasterKeySpec string
	Origin                string
	CustomKeyStoreID      string `json:"CustomKeyStoreId"`
	MultiRegion           bool
	XksKeyID              string `json:"XksKeyId"`
}

func (s *Service) createKey(ctx context.Context, in *createKeyInput) (any, error) {
	if in.Origin == "" {
		in.Origin = OriginAWSKMS
	}
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	}
	if (spec != "" && spec != "SYMMETRIC_DEFAULT") || (in.KeyUsage != "" && in.KeyUsage != "ENCRYPT_DECRYPT") {
		return nil, unsupported("This emulator creates only symmetric encryption keys (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT).")
	}
	if in.MultiRegion {
		return nil, unsupported("Multi-Region keys are not supported.")
	}
	switch {
	case in.Origin == OriginAWSCloudHSM && in.CustomKeyStoreID == "":
		return nil, unsupported("Origin AWS_CLOUDHSM requires a CustomKeyStoreId.")
	case in.Origin == OriginAWSCloudHSM:
		return s.createCloudHSMKey(ctx, in)
	case in.CustomKeyStoreID != "":
		return nil, unsupported("A key in a CloudHSM key store needs Origin AWS_CLOUDHSM, not %s.", in.Origin)
	case in.Origin != OriginAWSKMS:
		return nil, unsupported("Origin %s is not supported by this emulator.", in.Origin)
	}
	material := make([]byte, 32)
	_, _ = rand.Read(material)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.newKey(in.Description, OriginAWSKMS)
	k.SealedKey = s.sealer.seal(material, []byte(k.ARN))
	s.addKey(k)
	return map[string]any{"KeyMetadata": s.metadata(k)}, nil
}

// newKey makes the metadata of a new Enabled key; s.mu is held.
func (s *Service) newKey(description, origin string) *key {
	id := uuid.NewString()
	return &key{Seq: s.nextSeq(), ID: id, ARN: s.keyARN(id), Description: description, Origin: origin, State: KeyEnabled, Created: time.Now()}
}

// createCloudHSMKey generates the key material in the store's cluster:
// AES-256, non-extractable, owned by kmsuser, labelled with the key ARN.
func (s *Service) createCloudHSMKey(ctx context.Context, in *createKeyInput) (any, error) {
	s.mu.Lock()
	st, err := s.lookupStore(in.CustomKeyStoreID)
	if err == nil {
		_, err = s.check(st, opUseHSMs)
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	hsms := s.sessions[st.ID].hsms
	clusterID := st.ClusterID
	k := s.newKey(in.Description, OriginAWSCloudHSM)
	s.mu.Unlock()

	cluster, err := s.cloud.DescribeCluster(ctx, clusterID)
	if err != nil {
		return nil, invalidState("KMS cannot communicate with your CloudHSM cluster %s.", clusterID)
	}
	if err := checkClusterConfiguration(cluster); err != nil {
		return nil, err
	}
	backing, err := hsms.GenerateKey(ctx, k.ARN, len(cluster.activeHSMs()))
	if err != nil {
		// KMSInvalidStateException is not among CreateKey's errors; an
		// unreachable cluster is an internal failure there (retryable).
		s.log.Warn("creating a key in the cluster failed", "store", st.ID, "err", err)
		return nil, kmsError("KMSInternalException", "KMS cannot communicate with your CloudHSM cluster.")
	}
	s.step(ctx, StepCreateKeyGenerated, st.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	// The store may have been disconnected (and deleted) meanwhile: the key
	// would belong to a store that no longer has it.
	if _, err := s.check(st, opUseHSMs); err != nil {
		s.discardKeyMaterial(hsms, k.ARN, backing)
		return nil, err
	}
	k.StoreID, k.ClusterID, k.BackingKeyID = st.ID, clusterID, backing
	// Numbered now, not when the creation began: keys made meanwhile got
	// their numbers, and keyOrder must stay sorted for ListKeys pages.
	k.Seq = s.nextSeq()
	s.addKey(k)
	return map[string]any{"KeyMetadata": s.metadata(k)}, nil
}

// discardKeyMaterial deletes, in the background and best effort, key
// material a CreateKey made but could not record.
func (s *Service) discardKeyMaterial(hsms *hsmclient.Cluster, arn, backing string) {
	s.async(func(ctx context.Context) {
		for hsm, err := range hsms.DeleteKey(ctx, backing) {
			if err != nil {
				s.log.Warn("key material of an unrecorded key stays in the cluster", "key", arn, "backingKey", backing, "hsm", hsm, "err", err)
			}
		}
	})
}

type keyIDInput struct {
	KeyID string `json:"KeyId"`
}

func (in keyIDInput) keyRef() string { return in.KeyID }

// keyInput is the input of an operation on one key.
type keyInput interface{ keyRef() string }

// onKey locks the service and runs fn with the key the input names (in the
// forms kinds allows).
func onKey[In keyInput](s *Service, in In, kinds keyRefKinds, fn func(in In, k *key) (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.resolveKey(in.keyRef(), kinds)
	if err != nil {
		return nil, err
	}
	return fn(in, k)
}

func (s *Service) describeKey(_ context.Context, in *keyIDInput) (any, error) {
	return onKey(s, in, anyKeyRef, func(_ *keyIDInput, k *key) (any, error) {
		return map[string]any{"KeyMetadata": s.metadata(k)}, nil
	})
}

type listInput struct {
	KeyID  string `json:"KeyId"`
	Limit  int
	Marker string
}

type listKeysInput struct {
	Limit  int
	Marker string
}

type keyListEntry struct {
	KeyID  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

func (s *Service) listKeys(_ context.Context, in *listKeysInput) (any, error) {
	if in.Limit == 0 {
		in.Limit = defaultListLimit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items, next, err := page(s.markers, "keys", s.keyOrder, func(k *key) uint64 { return k.Seq }, in.Marker, in.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]keyListEntry, 0, len(items))
	for _, k := range items {
		out = append(out, keyListEntry{KeyID: k.ID, KeyArn: k.ARN})
	}
	return keyListAnswer{keys: out, next: next}, nil
}

// addKey records a new key (its Seq is the highest yet, so keyOrder stays
// sorted) and persists it; s.mu is held.
func (s *Service) addKey(k *key) {
	s.keys[k.ID] = k
	s.keyOrder = append(s.keyOrder, k)
	s.persistKey(k)
}

// removeKey forgets a key; s.mu is held.
func (s *Service) removeKey(k *key) {
	delete(s.keys, k.ID)
	i := sort.Search(len(s.keyOrder), func(i int) bool { return s.keyOrder[i].Seq >= k.Seq })
	if i < len(s.keyOrder) && s.keyOrder[i] == k {
		s.keyOrder = append(s.keyOrder[:i], s.keyOrder[i+1:]...)
	}
}

// setState changes a key's state for EnableKey and DisableKey. A key of a
// disconnected store stays Unavailable; the change shows on reconnect.
func (s *Service) setState(in *keyIDInput, state string) (any, error) {
	return onKey(s, in, keyIDOrARN, func(_ *keyIDInput, k *key) (any, error) {
		if k.State == KeyPendingDeletion {
			return nil, invalidState("%s is pending deletion.", k.ARN)
		}
		k.State = state
		s.persistKey(k)
		return struct{}{}, nil
	})
}

func (s *Service) enableKey(_ context.Context, in *keyIDInput) (any, error) {
	return s.setState(in, KeyEnabled)
}

func (s *Service) disableKey(_ context.Context, in *keyIDInput) (any, error) {
	return s.setState(in, KeyDisabled)
}

type scheduleKeyDeletionInput struct {
	KeyID               string `json:"KeyId"`
	PendingWindowInDays int
}

func (in scheduleKeyDeletionInput) keyRef() string { return in.KeyID }

func (s *Service) scheduleKeyDeletion(_ context.Context, in *scheduleKeyDeletionInput) (any, error) {
	return onKey(s, in, keyIDOrARN, func(in *scheduleKeyDeletionInput, k *key) (any, error) {
		if in.PendingWindowInDays == 0 {
			in.PendingWindowInDays = 30
		}
		if in.PendingWindowInDays < 7 || in.PendingWindowInDays > 30 {
			return nil, validation("1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30", in.PendingWindowInDays)
		}
		if k.State == KeyPendingDeletion {
			return nil, invalidState("%s is pending deletion.", k.ARN)
		}
		k.State, k.PendingWindow = KeyPendingDeletion, in.PendingWindowInDays
		k.DeletionDate = time.Now().Add(time.Duration(in.PendingWindowInDays) * s.opts.dayLength)
		s.persistKey(k)
		return map[string]any{"KeyId": k.ARN, "DeletionDate": awsjson.NewTime(k.DeletionDate), "KeyState": KeyPendingDeletion,
			"PendingWindowInDays": in.PendingWindowInDays}, nil
	})
}

func (s *Service) cancelKeyDeletion(_ context.Context, in *keyIDInput) (any, error) {
	return onKey(s, in, keyIDOrARN, func(_ *keyIDInput, k *key) (any, error) {
		if k.State != KeyPendingDeletion {
			return nil, invalidState("%s is not pending deletion.", k.ARN)
		}
		// A key whose deletion is cancelled comes back Disabled.
		k.State, k.PendingWindow, k.DeletionDate = KeyDisabled, 0, time.Time{}
		s.persistKey(k)
		return map[string]any{"KeyId": k.ARN}, nil
	})
}

// deletionSweeper deletes keys whose waiting period is over: their metadata
// and aliases, then, best effort, their material on every reachable HSM.
func (s *Service) deletionSweeper(ctx context.Context) {
	interval := min(max(s.opts.dayLength/10, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.deleteDueKeys(ctx)
	}
}

func (s *Service) deleteDueKeys(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	var due []*key
	for _, k := range s.keys {
		if k.State == KeyPendingDeletion && !k.DeletionDate.After(now) {
			due = append(due, k)
		}
	}
	type backing struct {
		k    *key
		sess *storeSession
	}
	var material []backing
	for _, k := range due {
		s.removeKey(k)
		if err := s.db.delete(bucketKeys, k.ID); err != nil {
			s.log.Error("deleting a key record failed", "key", k.ID, "err", err)
		}
		for name, a := range s.aliases {
			if a.KeyID == k.ID {
				delete(s.aliases, name)
				_ = s.db.delete(bucketAliases, name)
			}
		}
		if k.BackingKeyID != "" {
			material = append(material, backing{k: k, sess: s.sessions[k.StoreID]})
		}
	}
	s.mu.Unlock()
	for _, m := range material {
		if m.sess == nil || m.sess.hsms == nil {
			s.log.Warn("key deleted; its material stays in the cluster because the store is not connected",
				"key", m.k.ARN, "backingKey", m.k.BackingKeyID, "deletionStatus", "FAILURE")
			continue
		}
		for hsm, err := range m.sess.hsms.DeleteKey(ctx, m.k.BackingKeyID) {
			status := "SUCCESS"
			if err != nil {
				status = "FAILURE"
			}
			s.log.Info("key material deletion", "key", m.k.ARN, "backingKey", m.k.BackingKeyID, "hsm", hsm, "deletionStatus", status)
		}
	}
}
