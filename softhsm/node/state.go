package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// Names of the cluster-wide keys every token of a cluster holds.
const (
	wrapKeyID = "cluster-wrap"
	sealKeyID = "cluster-seal"
)

// legacyKeyMeta is what earlier versions kept in node.json for each key,
// whose material was a token object then.
type legacyKeyMeta struct {
	Owner string `json:"owner"`
	Label string `json:"label"`
}

// persistedState is the node's durable state besides its token and its
// key database.
type persistedState struct {
	HSMID   string       `json:"hsmId"`
	SOPIN   string       `json:"soPin"`
	UserPIN string       `json:"userPin"`
	Users   []users.User `json:"users"`
	// LegacyKeys are the keys of an earlier version still to be moved to
	// the key database (see Node.migrateLegacyKeys).
	LegacyKeys map[string]legacyKeyMeta `json:"keys,omitempty"`
}

func loadState(dir string) (*persistedState, error) {
	b, err := os.ReadFile(filepath.Join(dir, nodefiles.StateFile))
	if err != nil {
		return nil, err
	}
	var st persistedState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", nodefiles.StateFile, err)
	}
	return &st, nil
}

// saveState writes the state atomically: a crash leaves the old or the new
// file, never a torn one.
func saveState(dir string, st *persistedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return nodefiles.WriteFileAtomic(filepath.Join(dir, nodefiles.StateFile), b)
}
