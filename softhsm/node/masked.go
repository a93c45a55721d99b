package node

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kmsharness/kmsharness/softhsm"
	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// Associated data binding sealed blobs to their kind, so a key blob can
// never be restored as a backup or the other way round.
var (
	maskedKeyAAD = []byte("kmsharness masked key v1")
	backupAAD    = []byte("kmsharness backup v1")
)

// maskedKey is a key as it travels between HSMs of one cluster: wrapped
// under the cluster's trusted key, then sealed with its metadata under the
// cluster's sealing key. Only an HSM of the same cluster lineage opens it.
type maskedKey struct {
	ID      string `json:"id"`
	Label   string `json:"label"`
	Owner   string `json:"owner"`
	Wrapped []byte `json:"wrapped"`
}

// backupImage is a whole HSM: its users and its keys, sealed as one blob.
type backupImage struct {
	SourceHSM string       `json:"sourceHsm"`
	Users     []users.User `json:"users"`
	Keys      []maskedKey  `json:"keys"`
}

func masked(id string, rec keyRecord) maskedKey {
	return maskedKey{ID: id, Label: rec.Label, Owner: rec.Owner, Wrapped: rec.Wrapped}
}

func (n *Node) seal(v any, aad []byte) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return n.token.Seal(sealKeyID, b, aad)
}

func (n *Node) unseal(blob, aad []byte, v any) error {
	b, err := n.token.Unseal(sealKeyID, blob, aad)
	if err != nil {
		if errors.Is(err, softhsm.ErrInvalidCiphertext) {
			return hsmwire.Errorf(hsmwire.StatusInvalidCiphertext, "blob was not made by an HSM of this cluster, or is damaged")
		}
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return hsmwire.Errorf(hsmwire.StatusBadRequest, "sealed blob is malformed")
	}
	return nil
}

// exportKey returns the caller's key as a masked blob for the other HSMs of
// the cluster (what the CloudHSM client does to synchronise a new key).
func (n *Node) exportKey(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	rec, err := n.ownKey(c, req.KeyID)
	if err != nil {
		return nil, err
	}
	blob, err := n.seal(masked(req.KeyID, rec), maskedKeyAAD)
	if err != nil {
		return nil, err
	}
	return &hsmwire.Response{KeyID: req.KeyID, Data: blob}, nil
}

// importKey stores a key exported by another HSM of the cluster. The caller
// must own it.
func (n *Node) importKey(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if c.role != users.RoleCU {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only crypto users import keys")
	}
	var mk maskedKey
	if err := n.unseal(req.Data, maskedKeyAAD, &mk); err != nil {
		return nil, err
	}
	if mk.Owner != c.name {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "key %q belongs to another user", mk.ID)
	}
	if err := n.unmask(mk); err != nil {
		return nil, err
	}
	return &hsmwire.Response{KeyID: mk.ID}, nil
}

// unmask records a masked key (whose seal proved it comes from this
// cluster); the token loads it when it is first used.
func (n *Node) unmask(mk maskedKey) error {
	n.mu.RLock()
	_, exists := n.keys[mk.ID]
	n.mu.RUnlock()
	if exists {
		return hsmwire.Errorf(hsmwire.StatusKeyExists, "key %q is already on this HSM", mk.ID)
	}
	return n.recordKey(mk.ID, keyRecord{Owner: mk.Owner, Label: mk.Label, Wrapped: mk.Wrapped})
}

// recordKey makes a key durable and known. A key the token just generated
// is unloaded again if it cannot be recorded.
func (n *Node) recordKey(id string, rec keyRecord) error {
	if err := n.keyDB.put(id, rec); err != nil {
		n.log.Error("recording a key failed", "key", id, "err", err)
		_ = n.token.DeleteKey(id)
		return err
	}
	n.mu.Lock()
	n.keys[id] = rec
	n.mu.Unlock()
	return nil
}

// backup seals every user and key of the HSM into one blob (appliance user
// only), as CloudHSM does before it adds an HSM to a cluster.
func (n *Node) backup(c caller) (*hsmwire.Response, error) {
	if c.role != users.RoleAU {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only the appliance user takes backups")
	}
	n.mu.RLock()
	img := backupImage{SourceHSM: n.state.HSMID, Users: n.dir.Snapshot(), Keys: make([]maskedKey, 0, len(n.keys))}
	for id, rec := range n.keys {
		img.Keys = append(img.Keys, masked(id, rec))
	}
	n.mu.RUnlock()
	blob, err := n.seal(img, backupAAD)
	if err != nil {
		return nil, err
	}
	return &hsmwire.Response{Data: blob}, nil
}

// restore loads a backup of an HSM of the same cluster lineage into this
// HSM, which must hold no keys and no users but the appliance user.
func (n *Node) restore(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if c.role != users.RoleAU {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only the appliance user restores backups")
	}
	var img backupImage
	if err := n.unseal(req.Data, backupAAD, &img); err != nil {
		return nil, err
	}
	n.mu.Lock()
	for _, u := range n.dir.Snapshot() {
		if u.Role != users.RoleAU {
			n.mu.Unlock()
			return nil, hsmwire.Errorf(hsmwire.StatusNotEmpty, "HSM already has users")
		}
	}
	if len(n.keys) > 0 {
		n.mu.Unlock()
		return nil, hsmwire.Errorf(hsmwire.StatusNotEmpty, "HSM already has keys")
	}
	n.dir = users.NewDirectory(img.Users, n.cfg.LockoutThreshold)
	err := n.persistLocked()
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, mk := range img.Keys {
		if err := n.unmask(mk); err != nil {
			return nil, fmt.Errorf("restore key %q: %w", mk.ID, err)
		}
	}
	n.log.Info("restored backup", "source", img.SourceHSM, "users", len(img.Users), "keys", len(img.Keys))
	return &hsmwire.Response{}, nil
}
