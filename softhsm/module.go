// Package softhsm gives PKCS#11 access to SoftHSM2 tokens through
// github.com/miekg/pkcs11: loading the library, creating and opening tokens
// by label, a pool of sessions with exclusive checkout, and the key and crypto
// operations an emulated CloudHSM needs (AES-256 keys, AES-GCM with a 12-byte
// HSM-generated IV, random bytes, key wrapping under a trusted cluster key).
//
// SoftHSM reads its configuration once per process, in C_Initialize, so one
// process has one Module and one token directory; an emulated HSM is one token
// in it. The package requires cgo.
package softhsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// DefaultLibraryPath is where Debian's softhsm2 package installs the module.
const DefaultLibraryPath = "/usr/lib/softhsm/libsofthsm2.so"

// Module is an initialised PKCS#11 library. There is at most one per process
// and library path: SoftHSM is a singleton inside the loaded shared object.
type Module struct {
	ctx *pkcs11.Ctx

	mu     sync.Mutex // serialises token creation, which changes the slot list
	closed bool
}

// WriteConfig writes a SoftHSM2 configuration file into dir that keeps its
// tokens in dir/tokens, creating that directory. It returns the path of the
// configuration file, to be passed to OpenModule.
func WriteConfig(dir string) (string, error) {
	tokenDir := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokenDir, 0o700); err != nil {
		return "", fmt.Errorf("create token directory: %w", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokenDir + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("write softhsm2.conf: %w", err)
	}
	return conf, nil
}

// OpenModule loads the PKCS#11 library at libPath and initialises it with the
// SoftHSM2 configuration file configPath. It sets SOFTHSM2_CONF for the whole
// process, because that is the only way SoftHSM takes its configuration.
func OpenModule(libPath, configPath string) (*Module, error) {
	if _, err := os.Stat(libPath); err != nil {
		return nil, fmt.Errorf("pkcs11 library: %w", err)
	}
	if _, err := os.Stat(configPath); err != nil {
		return nil, fmt.Errorf("softhsm2 configuration: %w", err)
	}
	if err := os.Setenv("SOFTHSM2_CONF", configPath); err != nil {
		return nil, fmt.Errorf("set SOFTHSM2_CONF: %w", err)
	}
	ctx := pkcs11.New(libPath)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11 library %s could not be loaded", libPath)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("initialise %s (is the token directory usable?): %w", libPath, err)
	}
	return &Module{ctx: ctx}, nil
}

// Close finalises the library. Every session and login of the process ends.
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	err := m.ctx.Finalize()
	m.ctx.Destroy()
	return err
}

// findSlot returns the slot holding the initialised token with this label.
func (m *Module) findSlot(label string) (uint, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("list slots: %w", err)
	}
	for _, slot := range slots {
		info, err := m.ctx.GetTokenInfo(slot)
		if err != nil {
			continue
		}
		if info.Label == label && info.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			return slot, nil
		}
	}
	return 0, fmt.Errorf("token %q: %w", label, ErrTokenNotFound)
}

// HasToken reports whether an initialised token with this label exists.
func (m *Module) HasToken(label string) bool {
	_, err := m.findSlot(label)
	return err == nil
}

// TokenSpec describes a token to create.
type TokenSpec struct {
	// Label names the token; tokens are always found by label.
	Label string
	// SOPIN and UserPIN are the PINs of the security officer and the one
	// PKCS#11 user. They are secrets of the process that owns the token.
	SOPIN, UserPIN string
	// TrustedKeys are AES-256 key values imported at creation, by the
	// security officer, as trusted, non-extractable wrapping keys. Keys made
	// with KeyOptions.WrapWithTrusted can be wrapped by them and by nothing
	// else. The map key is the CKA_ID of the imported key.
	TrustedKeys map[string][]byte
	// SealingKeys are AES-256 key values imported as non-extractable
	// encryption keys (for sealing data such as backups). The map key is the
	// CKA_ID of the imported key.
	SealingKeys map[string][]byte
}

// CreateToken initialises a new token in the free slot and imports its
// trusted and sealing keys. It fails if a token with that label exists.
func (m *Module) CreateToken(spec TokenSpec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if spec.Label == "" || len(spec.Label) > 32 {
		return errors.New("token label must be 1 to 32 characters")
	}
	if _, err := m.findSlot(spec.Label); err == nil {
		return fmt.Errorf("token %q already exists", spec.Label)
	}
	slots, err := m.ctx.GetSlotList(false)
	if err != nil {
		return fmt.Errorf("list slots: %w", err)
	}
	free, found := uint(0), false
	for _, slot := range slots {
		info, err := m.ctx.GetTokenInfo(slot)
		if err == nil && info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			free, found = slot, true
			break
		}
	}
	if !found {
		return errors.New("no free slot for a new token")
	}
	if err := m.ctx.InitToken(free, spec.SOPIN, spec.Label); err != nil {
		return fmt.Errorf("initialise token %q: %w", spec.Label, err)
	}
	slot, err := m.findSlot(spec.Label)
	if err != nil {
		return err
	}
	session, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	defer func() { _ = m.ctx.CloseSession(session) }()
	if err := m.ctx.Login(session, pkcs11.CKU_SO, spec.SOPIN); err != nil {
		return fmt.Errorf("security officer login: %w", err)
	}
	defer func() { _ = m.ctx.Logout(session) }()
	if err := m.ctx.InitPIN(session, spec.UserPIN); err != nil {
		return fmt.Errorf("set user PIN: %w", err)
	}
	for id, value := range spec.TrustedKeys {
		if err := m.importKey(session, id, value, true); err != nil {
			return err
		}
	}
	for id, value := range spec.SealingKeys {
		if err := m.importKey(session, id, value, false); err != nil {
			return err
		}
	}
	return nil
}

// importKey creates a non-extractable AES key object from a known value.
// Trusted keys wrap and unwrap; the others encrypt and decrypt.
func (m *Module) importKey(session pkcs11.SessionHandle, id string, value []byte, trusted bool) error {
	if len(value) != 32 {
		return fmt.Errorf("key %q must be 32 bytes", id)
	}
	attrs := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		// The security officer can only create public objects; the key is
		// still sensitive and non-extractable, so its value never leaves.
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, []byte(id)),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, id),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
		pkcs11.NewAttribute(pkcs11.CKA_TRUSTED, trusted),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, trusted),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, trusted),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, !trusted),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, !trusted),
	}
	if _, err := m.ctx.CreateObject(session, attrs); err != nil {
		return fmt.Errorf("import key %q: %w", id, err)
	}
	return nil
}
