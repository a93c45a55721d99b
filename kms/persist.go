package kms

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the state database.
var (
	bucketStores  = []byte("stores")
	bucketKeys    = []byte("keys")
	bucketAliases = []byte("aliases")
	bucketMeta    = []byte("meta")
	metaSecret    = []byte("secret")
)

// stateDB persists stores, keys and aliases in bbolt, one JSON value per
// record, written through on every change, so a restarted service finds
// every store, key, alias and ciphertext valid.
type stateDB struct {
	bolt *bolt.DB
}

func openStateDB(path string, durable bool) (*stateDB, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: !durable, NoGrowSync: !durable})
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketStores, bucketKeys, bucketAliases, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaSecret) == nil {
			secret := make([]byte, 32)
			if _, err := rand.Read(secret); err != nil {
				return err
			}
			return meta.Put(metaSecret, secret)
		}
		return nil
	})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return &stateDB{bolt: b}, nil
}

// secret returns the service's own 32-byte key: it seals AWS_KMS key
// material and signs pagination markers.
func (d *stateDB) secret() ([]byte, error) {
	var out []byte
	err := d.bolt.View(func(tx *bolt.Tx) error {
		out = append([]byte(nil), tx.Bucket(bucketMeta).Get(metaSecret)...)
		return nil
	})
	if len(out) != 32 {
		return nil, errors.Join(err, errors.New("state database has no service secret"))
	}
	return out, err
}

func (d *stateDB) put(bucket []byte, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return d.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(id), b) })
}

func (d *stateDB) delete(bucket []byte, id string) error {
	return d.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(id)) })
}

// loadAll reads every record of a bucket into fresh values made by newT.
func loadAll[T any](d *stateDB, bucket []byte) ([]*T, error) {
	var out []*T
	err := d.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var item T
			if err := json.Unmarshal(v, &item); err != nil {
				return fmt.Errorf("record %s/%s is damaged: %w", bucket, k, err)
			}
			out = append(out, &item)
			return nil
		})
	})
	return out, err
}

func (d *stateDB) close() error { return d.bolt.Close() }
