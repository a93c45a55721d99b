package kms

import (
	"strings"

	"github.com/google/uuid"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// visibleState is the KeyState a key shows: a key of a custom key store
// that is not CONNECTED is Unavailable, unless it is PendingDeletion; s.mu
// is held.
func (s *Service) visibleState(k *key) string {
	if k.StoreID != "" && k.State != KeyPendingDeletion {
		if st, ok := s.stores[k.StoreID]; !ok || !st.usable() {
			return KeyUnavailable
		}
	}
	return k.State
}

// keyRefKinds says which forms of KeyId an operation accepts.
type keyRefKinds int

const (
	keyIDOrARN keyRefKinds = iota // key ID or key ARN
	anyKeyRef                     // also alias name or alias ARN
)

// resolveKey finds the key a KeyId names: a key ID, a key ARN, or (when
// allowed) an alias name or alias ARN; s.mu is held.
func (s *Service) resolveKey(ref string, kinds keyRefKinds) (*key, error) {
	id := ref
	if strings.HasPrefix(ref, "arn:") {
		parts := strings.SplitN(ref, ":", 6)
		if len(parts) != 6 || parts[1] != "aws" || parts[2] != "kms" || parts[3] == "" || parts[4] == "" {
			return nil, kmsError("InvalidArnException", "%s is not a valid ARN.", ref)
		}
		if parts[3] != s.opts.region || parts[4] != s.opts.account {
			return nil, keyNotFound(ref)
		}
		id = parts[5]
		if strings.HasPrefix(id, "alias/") {
			if kinds != anyKeyRef {
				return nil, keyNotFound(ref)
			}
		} else if rest, ok := strings.CutPrefix(id, "key/"); ok {
			id = rest
		} else {
			return nil, kmsError("InvalidArnException", "%s is not a valid key ARN.", ref)
		}
	}
	if strings.HasPrefix(id, "alias/") {
		if kinds != anyKeyRef {
			return nil, keyNotFound(ref)
		}
		a, ok := s.aliases[id]
		if !ok {
			return nil, kmsError("NotFoundException", "Alias %s is not found.", s.aliasARN(id))
		}
		id = a.KeyID
	}
	if _, err := uuid.Parse(id); err != nil {
		return nil, keyNotFound(ref)
	}
	k, ok := s.keys[id]
	if !ok {
		return nil, keyNotFound(s.keyARN(id))
	}
	return k, nil
}

type keyMetadata struct {
	AWSAccountID          string        `json:"AWSAccountId"`
	KeyID                 string        `json:"KeyId"`
	Arn                   string        `json:"Arn"`
	CreationDate          *awsjson.Time `json:"CreationDate,omitempty"`
	Enabled               bool          `json:"Enabled"`
	Description           string        `json:"Description"`
	KeyUsage              string        `json:"KeyUsage"`
	KeyState              string        `json:"KeyState"`
	DeletionDate          *awsjson.Time `json:"DeletionDate,omitempty"`
	Origin                string        `json:"Origin"`
	CustomKeyStoreID      string        `json:"CustomKeyStoreId,omitempty"`
	CloudHsmClusterID     string        `json:"CloudHsmClusterId,omitempty"`
	KeyManager            string        `json:"KeyManager"`
	CustomerMasterKeySpec string        `json:"CustomerMasterKeySpec"`
	KeySpec               string        `json:"KeySpec"`
	EncryptionAlgorithms  []string      `json:"EncryptionAlgorithms"`
	MultiRegion           bool          `json:"MultiRegion"`
	PendingWindowInDays   int           `json:"PendingDeletionWindowInDays,omitempty"`
}

// metadata renders a key's KeyMetadata; s.mu is held. CloudHsmClusterId is
// the store's current cluster, so it follows UpdateCustomKeyStore.
func (s *Service) metadata(k *key) keyMetadata {
	state := s.visibleState(k)
	m := keyMetadata{
		AWSAccountID: s.opts.account, KeyID: k.ID, Arn: k.ARN, CreationDate: awsjson.NewTime(k.Created),
		Enabled: state == KeyEnabled, Description: k.Description, KeyUsage: "ENCRYPT_DECRYPT", KeyState: state,
		Origin: k.Origin, CustomKeyStoreID: k.StoreID, KeyManager: "CUSTOMER", CustomerMasterKeySpec: "SYMMETRIC_DEFAULT",
		KeySpec: "SYMMETRIC_DEFAULT", EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"},
	}
	if k.State == KeyPendingDeletion {
		m.DeletionDate = awsjson.NewTime(k.DeletionDate)
		m.PendingWindowInDays = k.PendingWindow
	}
	if st, ok := s.stores[k.StoreID]; ok {
		m.CloudHsmClusterID = st.ClusterID
	} else if k.ClusterID != "" {
		m.CloudHsmClusterID = k.ClusterID
	}
	return m
}

// usable checks that a key can be used for cryptography now; s.mu is held.
func (s *Service) usable(k *key) error {
	switch s.visibleState(k) {
	case KeyEnabled:
		return nil
	case KeyDisabled:
		return kmsError("DisabledException", "%s is disabled.", k.ARN)
	case KeyPendingDeletion:
		return invalidState("%s is pending deletion.", k.ARN)
	default:
		return invalidState("%s is unavailable.", k.ARN)
	}
}
