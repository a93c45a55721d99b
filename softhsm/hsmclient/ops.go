package hsmclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
)

// Login logs the connection in. Wrong passwords give hsmwire.ErrAuthFailed
// and count towards the user's lockout on this HSM; a locked user gets
// hsmwire.ErrLockedOut.
func (c *Conn) Login(ctx context.Context, user, password string) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpLogin, User: user, Password: password})
	return err
}

// LoginExclusive logs in only if no other connection is logged in as the
// user (hsmwire.ErrUserLoggedIn otherwise), as KMS requires for kmsuser.
func (c *Conn) LoginExclusive(ctx context.Context, user, password string) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpLogin, User: user, Password: password, Exclusive: true})
	return err
}

// Logout ends the connection's login.
func (c *Conn) Logout(ctx context.Context) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpLogout})
	return err
}

// Release logs the connection's user out, waiting within ctx for the
// node's answer, then closes the connection. After Close alone the login
// ends only when the node notices the closed connection, which a busy node
// or a slow network delays: an exclusive login right after it would be
// refused. When Release returns nil, the node has ended the login (or the
// connection had none).
func (c *Conn) Release(ctx context.Context) error {
	defer func() { _ = c.Close() }()
	if !c.alive() {
		return nil
	}
	if err := c.Logout(ctx); err != nil && !errors.Is(err, hsmwire.ErrNotLoggedIn) {
		return fmt.Errorf("log out of %s: %w", c.hsmID, err)
	}
	return nil
}

// ChangePassword sets user's password (empty user: the logged-in user's own).
// A crypto officer may change anyone's, which also unlocks a locked user.
func (c *Conn) ChangePassword(ctx context.Context, user, newPassword string) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpChangePassword, User: user, NewPassword: newPassword})
	return err
}

// CreateUser creates a crypto officer ("CO") or crypto user ("CU").
func (c *Conn) CreateUser(ctx context.Context, user, role, password string) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpCreateUser, User: user, Role: role, Password: password})
	return err
}

// DeleteUser deletes a user (crypto officer only).
func (c *Conn) DeleteUser(ctx context.Context, user string) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpDeleteUser, User: user})
	return err
}

// ListUsers lists the HSM's users with their lockout and login state.
func (c *Conn) ListUsers(ctx context.Context) ([]hsmwire.UserInfo, error) {
	var out []hsmwire.UserInfo
	err := c.callJSON(ctx, &hsmwire.Request{Op: hsmwire.OpListUsers}, &out)
	return out, err
}

// Info describes the node; it needs no login.
func (c *Conn) Info(ctx context.Context) (hsmwire.NodeInfo, error) {
	var out hsmwire.NodeInfo
	err := c.callJSON(ctx, &hsmwire.Request{Op: hsmwire.OpInfo}, &out)
	return out, err
}

// GenerateKey creates an AES-256 key owned by the logged-in crypto user on
// this HSM only, and returns its ID. Cluster.GenerateKey also copies it to
// the other HSMs.
func (c *Conn) GenerateKey(ctx context.Context, label string) (string, error) {
	id, _, err := c.generateKey(ctx, label)
	return id, err
}

// generateKey is GenerateKey that also returns the new key masked for the
// other HSMs of the cluster (as ExportKey would), when the node sends it.
func (c *Conn) generateKey(ctx context.Context, label string) (id string, masked []byte, err error) {
	resp, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpGenerateKey, Label: label})
	if err != nil {
		return "", nil, err
	}
	return resp.KeyID, resp.Data, nil
}

// DeleteKey deletes a key from this HSM.
func (c *Conn) DeleteKey(ctx context.Context, keyID string) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpDeleteKey, KeyID: keyID})
	return err
}

// ListKeys lists the logged-in crypto user's keys on this HSM.
func (c *Conn) ListKeys(ctx context.Context) ([]hsmwire.KeyInfo, error) {
	var out []hsmwire.KeyInfo
	err := c.callJSON(ctx, &hsmwire.Request{Op: hsmwire.OpListKeys}, &out)
	return out, err
}

// Encrypt encrypts with AES-256-GCM in the HSM, which picks the 12-byte IV.
// It returns the IV and the ciphertext with its 16-byte tag.
func (c *Conn) Encrypt(ctx context.Context, keyID string, plaintext, aad []byte) (iv, ciphertext []byte, err error) {
	resp, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpEncrypt, KeyID: keyID, Data: plaintext, AAD: aad})
	if err != nil {
		return nil, nil, err
	}
	return resp.IV, resp.Data, nil
}

// Decrypt reverses Encrypt; a forged or damaged ciphertext gives
// hsmwire.ErrInvalidCiphertext.
func (c *Conn) Decrypt(ctx context.Context, keyID string, iv, ciphertext, aad []byte) ([]byte, error) {
	resp, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpDecrypt, KeyID: keyID, IV: iv, Data: ciphertext, AAD: aad})
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// GenerateRandom returns n random bytes from the HSM.
func (c *Conn) GenerateRandom(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > 1<<31 {
		return nil, &hsmwire.Error{Status: hsmwire.StatusBadRequest, Message: "random length out of range"}
	}
	resp, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpGenerateRandom, Count: uint32(n)})
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// ExportKey returns a key as a masked blob that only HSMs of the same
// cluster lineage can import.
func (c *Conn) ExportKey(ctx context.Context, keyID string) ([]byte, error) {
	resp, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpExportKey, KeyID: keyID})
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// ImportKey stores a masked key blob from another HSM of the cluster and
// returns the key's ID.
func (c *Conn) ImportKey(ctx context.Context, blob []byte) (string, error) {
	resp, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpImportKey, Data: blob})
	if err != nil {
		return "", err
	}
	return resp.KeyID, nil
}

// Backup returns a sealed image of the HSM's users and keys (appliance user).
func (c *Conn) Backup(ctx context.Context) ([]byte, error) {
	resp, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpBackup})
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// Restore loads a sealed image into an empty HSM (appliance user).
func (c *Conn) Restore(ctx context.Context, image []byte) error {
	_, err := c.call(ctx, &hsmwire.Request{Op: hsmwire.OpRestore, Data: image})
	return err
}
