// Package nodefiles is the on-disk layout of an HSM node's data directory:
// what a backend writes before a node's first start (bootstrap.json and the
// TLS files) and how it replaces the certificate chain later. It needs no
// cgo, so backends can use it without linking PKCS#11.
package nodefiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kmsharness/kmsharness/internal/atomicfile"

	"github.com/kmsharness/kmsharness/softhsm/users"
)

// File names inside a node's data directory.
const (
	// StateFile is the node's own state (users, key owners, token PINs).
	StateFile = "node.json"
	// BootstrapFile is read on the first start and deleted afterwards.
	BootstrapFile = "bootstrap.json"
	// TLSKeyFile and TLSCertFile hold the node's TLS private key and its
	// certificate chain (node certificate first, then the cluster
	// certificate once the cluster is initialised). The node re-reads them
	// when they change, so a chain can be completed while it runs.
	TLSKeyFile  = "tls.key"
	TLSCertFile = "tls.crt"
)

// Bootstrap is what a new node needs on its first start: its identity, the
// cluster secret from which every HSM of the cluster derives the same
// wrapping and sealing keys, and its initial users. It is read once from the
// data directory and deleted after the token is made.
type Bootstrap struct {
	HSMID         string          `json:"hsmId"`
	ClusterSecret []byte          `json:"clusterSecret"`
	Users         []BootstrapUser `json:"users"`
}

// BootstrapUser is an initial user of a new node.
type BootstrapUser struct {
	Name     string     `json:"name"`
	Role     users.Role `json:"role"`
	Password string     `json:"password"`
}

// PrepareDataDir makes dir ready for a node's first start: the bootstrap
// file and the TLS key and certificate chain (PEM). All are private files.
func PrepareDataDir(dir string, b Bootstrap, keyPEM, chainPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, BootstrapFile), body); err != nil {
		return err
	}
	return WriteTLS(dir, keyPEM, chainPEM)
}

// WriteTLS replaces the node's TLS key and certificate chain; a running node
// uses them from its next handshake on.
func WriteTLS(dir string, keyPEM, chainPEM []byte) error {
	if len(keyPEM) > 0 {
		if err := WriteFileAtomic(filepath.Join(dir, TLSKeyFile), keyPEM); err != nil {
			return err
		}
	}
	return WriteFileAtomic(filepath.Join(dir, TLSCertFile), chainPEM)
}

// ReadBootstrap reads and checks the bootstrap file of dir.
func ReadBootstrap(dir string) (*Bootstrap, error) {
	b, err := os.ReadFile(filepath.Join(dir, BootstrapFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("data directory %s holds neither a node nor a %s", dir, BootstrapFile)
	}
	if err != nil {
		return nil, err
	}
	var bs Bootstrap
	if err := json.Unmarshal(b, &bs); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", BootstrapFile, err)
	}
	if bs.HSMID == "" || len(bs.ClusterSecret) != 32 {
		return nil, fmt.Errorf("%s needs an hsmId and a 32-byte clusterSecret", BootstrapFile)
	}
	return &bs, nil
}

// WriteFileAtomic writes data to path so that a crash leaves the old or the
// new file, never a torn one (the file is private: 0600).
func WriteFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data) }
