package node

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// KeysFile is the node's key database inside its data directory.
const KeysFile = "keys.db"

var keysBucket = []byte("keys")

// keyRecord is what the node keeps of a key: its owner and label, and the
// key itself wrapped under the cluster's trusted key (only a token holding
// that key can load it).
type keyRecord struct {
	Owner   string `json:"owner"`
	Label   string `json:"label"`
	Wrapped []byte `json:"wrapped"`
}

// keyDB is the durable half of the node's keys: one record per key in a
// bbolt database. The token holds the live keys, as session objects that
// end with the process; the node loads every record into the token when it
// opens. A key is recorded before its creation is answered and forgotten
// before its live copy is destroyed, so a kill at any instant leaves every
// acknowledged key loadable and no deleted key alive.
type keyDB struct {
	db *bolt.DB
}

// openKeyDB opens the key database; noSync skips flushing each commit to
// the disk (what is written still survives a kill of the node).
func openKeyDB(path string, noSync bool) (*keyDB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: noSync, NoGrowSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("open key database: %w", err)
	}
	// Concurrent creations share one commit; a creation waits at most this
	// long for others to join it.
	db.MaxBatchDelay = 2 * time.Millisecond
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(keysBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open key database: %w", err)
	}
	return &keyDB{db: db}, nil
}

// put records a key (concurrent calls are committed together).
func (k *keyDB) put(id string, rec keyRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return k.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(keysBucket).Put([]byte(id), b) })
}

// delete forgets a key.
func (k *keyDB) delete(id string) error {
	return k.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(keysBucket).Delete([]byte(id)) })
}

// each calls fn for every recorded key.
func (k *keyDB) each(fn func(id string, rec keyRecord) error) error {
	return k.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(keysBucket).ForEach(func(id, v []byte) error {
			var rec keyRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("key %q: damaged record: %w", id, err)
			}
			return fn(string(id), rec)
		})
	})
}

func (k *keyDB) close() error { return k.db.Close() }
