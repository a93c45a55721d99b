// Package node is an emulated CloudHSM: one SoftHSM token behind the
// hsmwire protocol over TLS. It authenticates CloudHSM users itself (SoftHSM
// has one user PIN and no lockout), counts failed logins and locks users,
// tracks who is logged in, keeps each key's owner, and copies keys to the
// other HSMs of its cluster only as masked blobs that those HSMs alone can
// open.
package node

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/kmsharness/kmsharness/softhsm"
	"github.com/kmsharness/kmsharness/softhsm/nodefiles"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// Config says where a node keeps its state and how it behaves.
type Config struct {
	// DataDir holds node.json, the TLS files and (unless Module is set) the
	// SoftHSM configuration and token directory.
	DataDir string
	// LibraryPath is the PKCS#11 library (softhsm.DefaultLibraryPath if empty).
	LibraryPath string
	// Module, if set, is an already opened SoftHSM module to keep the token
	// in (for several nodes in one process, as tests do). Otherwise the node
	// opens its own, with its own configuration, and closes it on Close.
	Module *softhsm.Module
	// LockoutThreshold is how many consecutive failed logins lock a user
	// (users.DefaultLockoutThreshold if 0).
	LockoutThreshold int
	// MaxSessions caps the token's PKCS#11 sessions (1,024 if 0).
	MaxSessions int
	// MaxLoadedKeys is how many keys the token holds loaded at once
	// (softhsm.DefaultMaxLoadedKeys if 0); the others stay in the key
	// database, wrapped, and are loaded when they are used.
	MaxLoadedKeys int
	// NoSync keeps the key database from flushing each commit, and each
	// growth of its file, to the disk: keys then survive a kill of the node
	// but not a crash of the machine. Each flush is a disk round trip (and a
	// disk may throttle a stream of them), and a growth's flush writes every
	// page not flushed yet while the database is locked, so a node whose
	// state is temporary anyway is faster without.
	NoSync bool
	// Logger receives the node's logs; it never receives a secret.
	Logger *slog.Logger
	// Limits bound what one client can hold of the node's server (zero
	// fields take DefaultLimits).
	Limits Limits
}

// Node is an open emulated HSM.
type Node struct {
	cfg        Config
	token      *softhsm.Token
	module     *softhsm.Module
	ownsModule bool
	log        *slog.Logger

	keyDB *keyDB

	mu       sync.RWMutex // guards everything below
	state    *persistedState
	dir      *users.Directory
	sessions map[string]int       // user name -> connections logged in as it
	keys     map[string]keyRecord // key ID -> the key (loaded in the token)

	server serverState
}

// Open opens the node in cfg.DataDir, creating its token from the bootstrap
// file on the first start.
func Open(cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: a data directory is required")
	}
	if cfg.LibraryPath == "" {
		cfg.LibraryPath = softhsm.DefaultLibraryPath
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if info, err := os.Stat(cfg.DataDir); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("node: data directory %s is not usable: %w", cfg.DataDir, errors.Join(err, errNotDir(info)))
	}
	n := &Node{cfg: cfg, log: cfg.Logger, sessions: map[string]int{}, keys: map[string]keyRecord{}, module: cfg.Module}
	if n.module == nil {
		conf, err := softhsm.WriteConfig(filepath.Join(cfg.DataDir, "softhsm"))
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		if n.module, err = softhsm.OpenModule(cfg.LibraryPath, conf); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		n.ownsModule = true
	}
	if err := n.openToken(); err != nil {
		n.closeModule()
		return nil, fmt.Errorf("node: %w", err)
	}
	n.dir = users.NewDirectory(n.state.Users, cfg.LockoutThreshold)
	n.log = n.log.With("hsm", n.state.HSMID)
	if err := n.loadKeys(); err != nil {
		n.closeStores()
		return nil, fmt.Errorf("node: %w", err)
	}
	return n, nil
}

// loadKeys opens the key database and reads every key's record, after
// moving the keys of an earlier version there; the token loads a key when
// it is first used.
func (n *Node) loadKeys() error {
	db, err := openKeyDB(filepath.Join(n.cfg.DataDir, KeysFile), n.cfg.NoSync)
	if err != nil {
		return err
	}
	n.keyDB = db
	if err := n.migrateLegacyKeys(); err != nil {
		return err
	}
	return db.each(func(id string, rec keyRecord) error {
		n.keys[id] = rec
		return nil
	})
}

// recordedKeys is the node's key records as the token's key source.
type recordedKeys struct{ n *Node }

// WrappedKey returns a recorded key's wrapped form and label.
func (r recordedKeys) WrappedKey(id string) ([]byte, string, error) {
	r.n.mu.RLock()
	rec, ok := r.n.keys[id]
	r.n.mu.RUnlock()
	if !ok {
		return nil, "", fmt.Errorf("key %q: %w", id, softhsm.ErrKeyNotFound)
	}
	return rec.Wrapped, rec.Label, nil
}

// migrateLegacyKeys moves keys that an earlier version kept as token
// objects (their owners in node.json) into the key database. Each key is
// recorded before its token object goes, so a kill leaves it in one form
// or both, and the next start finishes the move.
func (n *Node) migrateLegacyKeys() error {
	legacy := n.state.LegacyKeys
	err := n.token.MigrateTokenKeys(wrapKeyID, func(k softhsm.TokenKey) error {
		meta, ok := legacy[k.ID]
		if !ok {
			return fmt.Errorf("token key %q has no owner in %s", k.ID, nodefiles.StateFile)
		}
		rec := keyRecord{Owner: meta.Owner, Label: meta.Label, Wrapped: k.Wrapped}
		if err := n.keyDB.put(k.ID, rec); err != nil {
			return err
		}
		n.keys[k.ID] = rec
		return nil
	})
	if err != nil {
		return fmt.Errorf("move keys to %s: %w", KeysFile, err)
	}
	if len(legacy) > 0 {
		n.log.Info("moved keys from token objects to the key database", "keys", len(n.keys))
		n.state.LegacyKeys = nil
		return saveState(n.cfg.DataDir, n.state)
	}
	return nil
}

func errNotDir(info os.FileInfo) error {
	if info != nil && !info.IsDir() {
		return errors.New("not a directory")
	}
	return nil
}

// openToken reopens the node's token, or creates it from the bootstrap file.
func (n *Node) openToken() error {
	st, err := loadState(n.cfg.DataDir)
	switch {
	case err == nil:
		if !n.module.HasToken(st.HSMID) {
			return fmt.Errorf("token %q of this node is missing from its token directory", st.HSMID)
		}
	case errors.Is(err, os.ErrNotExist):
		if st, err = n.createToken(); err != nil {
			return err
		}
	default:
		return err
	}
	opts := []softhsm.TokenOption{softhsm.WithKeySource(wrapKeyID, recordedKeys{n}, n.cfg.MaxLoadedKeys)}
	if n.cfg.MaxSessions > 0 {
		opts = append(opts, softhsm.WithMaxSessions(n.cfg.MaxSessions))
	}
	tok, err := n.module.OpenToken(st.HSMID, st.UserPIN, opts...)
	if err != nil {
		return err
	}
	n.token, n.state = tok, st
	return nil
}

func (n *Node) createToken() (*persistedState, error) {
	bs, err := nodefiles.ReadBootstrap(n.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st := &persistedState{HSMID: bs.HSMID, SOPIN: randomHex(16), UserPIN: randomHex(16)}
	dir := users.NewDirectory(nil, n.cfg.LockoutThreshold)
	for _, u := range bs.Users {
		if err := dir.Create(u.Name, u.Role, u.Password); err != nil {
			return nil, fmt.Errorf("bootstrap user %q: %w", u.Name, err)
		}
	}
	st.Users = dir.Snapshot()
	wrapKey, sealKey := deriveClusterKeys(bs.ClusterSecret)
	if err := n.module.CreateToken(softhsm.TokenSpec{
		Label: bs.HSMID, SOPIN: st.SOPIN, UserPIN: st.UserPIN,
		TrustedKeys: map[string][]byte{wrapKeyID: wrapKey},
		SealingKeys: map[string][]byte{sealKeyID: sealKey},
	}); err != nil {
		return nil, err
	}
	if err := saveState(n.cfg.DataDir, st); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(n.cfg.DataDir, nodefiles.BootstrapFile)); err != nil {
		return nil, err
	}
	return st, nil
}

// deriveClusterKeys turns the cluster secret into the two keys every HSM of
// the cluster holds: a trusted wrapping key and a sealing key.
func deriveClusterKeys(secret []byte) (wrap, seal []byte) {
	derive := func(info string) []byte {
		k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
		if err != nil {
			panic(err) // only for invalid lengths, which are constant here
		}
		return k
	}
	return derive("kmsharness cluster wrap key"), derive("kmsharness cluster seal key")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// HSMID returns the node's HSM ID.
func (n *Node) HSMID() string { return n.state.HSMID }

// persistLocked saves the state; n.mu must be held for writing.
func (n *Node) persistLocked() error {
	n.state.Users = n.dir.Snapshot()
	if err := saveState(n.cfg.DataDir, n.state); err != nil {
		n.log.Error("saving node state failed", "err", err)
		return err
	}
	return nil
}

// Close ends every connection, then closes the token and, if the node opened
// it, the module.
func (n *Node) Close() error {
	n.stopServing()
	return n.closeStores()
}

// closeStores closes the key database, the token and the module (if the
// node opened it).
func (n *Node) closeStores() error {
	var err error
	if n.keyDB != nil {
		err = n.keyDB.close()
	}
	err = errors.Join(err, n.token.Close())
	n.closeModule()
	return err
}

func (n *Node) closeModule() {
	if n.ownsModule {
		_ = n.module.Close()
	}
}
