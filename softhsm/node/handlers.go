package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/kmsharness/kmsharness/softhsm"
	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
	"github.com/kmsharness/kmsharness/softhsm/users"
)

// handle runs one request and never panics: a bug becomes StatusInternal.
func (n *Node) handle(sess *session, c caller, req *hsmwire.Request) (resp *hsmwire.Response) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("request handler panicked", "op", req.Op.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp = &hsmwire.Response{ID: req.ID, Status: hsmwire.StatusInternal, Message: "internal error"}
		}
	}()
	resp, err := n.dispatch(sess, c, req)
	if err != nil {
		var we *hsmwire.Error
		if !errors.As(err, &we) {
			n.log.Error("request failed", "op", req.Op.String(), "err", err)
			we = &hsmwire.Error{Status: hsmwire.StatusInternal, Message: err.Error()}
		}
		return &hsmwire.Response{ID: req.ID, Status: we.Status, Message: we.Message}
	}
	resp.ID = req.ID
	return resp
}

func (n *Node) dispatch(sess *session, c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if req.Op != hsmwire.OpLogin && req.Op != hsmwire.OpInfo && !c.loggedIn {
		return nil, hsmwire.Errorf(hsmwire.StatusNotLoggedIn, "%s needs a logged-in user", req.Op)
	}
	switch req.Op {
	case hsmwire.OpLogin:
		return n.login(sess, c, req)
	case hsmwire.OpLogout:
		n.endSession(sess)
		return &hsmwire.Response{}, nil
	case hsmwire.OpChangePassword:
		return n.changePassword(sess, c, req)
	case hsmwire.OpCreateUser:
		return n.createUser(c, req)
	case hsmwire.OpDeleteUser:
		return n.deleteUser(c, req)
	case hsmwire.OpListUsers:
		return n.listUsers()
	case hsmwire.OpGenerateKey:
		return n.generateKey(c, req)
	case hsmwire.OpDeleteKey:
		return n.deleteKey(c, req)
	case hsmwire.OpListKeys:
		return n.listKeys(c)
	case hsmwire.OpEncrypt:
		return n.encrypt(c, req)
	case hsmwire.OpDecrypt:
		return n.decrypt(c, req)
	case hsmwire.OpGenerateRandom:
		return n.generateRandom(req)
	case hsmwire.OpExportKey:
		return n.exportKey(c, req)
	case hsmwire.OpImportKey:
		return n.importKey(c, req)
	case hsmwire.OpBackup:
		return n.backup(c)
	case hsmwire.OpRestore:
		return n.restore(c, req)
	case hsmwire.OpInfo:
		return n.info()
	}
	return nil, hsmwire.Errorf(hsmwire.StatusBadRequest, "unknown operation %s", req.Op)
}

func jsonResponse(v any) (*hsmwire.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &hsmwire.Response{Data: b}, nil
}

// userError maps a users package error to a wire status.
func userError(err error) error {
	switch {
	case errors.Is(err, users.ErrUserNotFound):
		return hsmwire.Errorf(hsmwire.StatusUserNotFound, "%v", err)
	case errors.Is(err, users.ErrWrongPassword):
		return hsmwire.Errorf(hsmwire.StatusAuthFailed, "%v", err)
	case errors.Is(err, users.ErrLockedOut):
		return hsmwire.Errorf(hsmwire.StatusLockedOut, "%v", err)
	case errors.Is(err, users.ErrUserExists):
		return hsmwire.Errorf(hsmwire.StatusUserExists, "%v", err)
	case errors.Is(err, users.ErrInvalidName), errors.Is(err, users.ErrInvalidPassword):
		return hsmwire.Errorf(hsmwire.StatusBadRequest, "%v", err)
	}
	return err
}

// tokenError maps a softhsm error to a wire status.
func tokenError(err error) error {
	switch {
	case errors.Is(err, softhsm.ErrKeyNotFound):
		return hsmwire.Errorf(hsmwire.StatusKeyNotFound, "key not found")
	case errors.Is(err, softhsm.ErrKeyExists):
		return hsmwire.Errorf(hsmwire.StatusKeyExists, "key exists")
	case errors.Is(err, softhsm.ErrInvalidCiphertext):
		return hsmwire.Errorf(hsmwire.StatusInvalidCiphertext, "ciphertext failed authentication")
	case errors.Is(err, softhsm.ErrInputTooLarge):
		return hsmwire.Errorf(hsmwire.StatusInputTooLarge, "%v", err)
	case errors.Is(err, softhsm.ErrInvalidParameter):
		return hsmwire.Errorf(hsmwire.StatusBadRequest, "%v", err)
	case errors.Is(err, softhsm.ErrSessionsExhausted):
		return hsmwire.Errorf(hsmwire.StatusSessionsExhausted, "all PKCS#11 sessions are in use")
	}
	return err
}

func (n *Node) login(sess *session, c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if c.loggedIn {
		return nil, hsmwire.Errorf(hsmwire.StatusAlreadyLoggedIn, "session is logged in as %q", c.name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if req.Exclusive && n.sessions[req.User] > 0 {
		return nil, hsmwire.Errorf(hsmwire.StatusUserLoggedIn, "%q is logged in on another session", req.User)
	}
	before, _ := n.dir.Get(req.User)
	u, err := n.dir.Authenticate(req.User, req.Password)
	// The failed-login count survives a restart; a login that left it as
	// it was (most of them) writes nothing, since every write holds the
	// node's lock through a disk sync.
	if after, ok := n.dir.Get(req.User); ok && after.FailedLogins != before.FailedLogins {
		if perr := n.persistLocked(); perr != nil && err == nil {
			return nil, perr
		}
	}
	if err != nil {
		n.log.Info("login refused", "user", req.User, "reason", err.Error())
		return nil, userError(err)
	}
	n.sessions[u.Name]++
	sess.set(caller{loggedIn: true, name: u.Name, role: u.Role})
	return &hsmwire.Response{}, nil
}

func (n *Node) changePassword(sess *session, c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	target := req.User
	if target == "" {
		target = c.name
	}
	if target != c.name && c.role != users.RoleCO {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only a crypto officer changes another user's password")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.dir.SetPassword(target, req.NewPassword); err != nil {
		return nil, userError(err)
	}
	if err := n.persistLocked(); err != nil {
		return nil, err
	}
	if target == c.name {
		u, _ := n.dir.Get(target)
		sess.set(caller{loggedIn: true, name: u.Name, role: u.Role})
	}
	return &hsmwire.Response{}, nil
}

func (n *Node) createUser(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if c.role != users.RoleCO {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only a crypto officer creates users")
	}
	role, err := users.ParseRole(req.Role)
	if err != nil || (role != users.RoleCO && role != users.RoleCU) {
		return nil, hsmwire.Errorf(hsmwire.StatusBadRequest, "user type must be CO or CU")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.dir.Create(req.User, role, req.Password); err != nil {
		return nil, userError(err)
	}
	return &hsmwire.Response{}, n.persistLocked()
}

func (n *Node) deleteUser(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if c.role != users.RoleCO {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only a crypto officer deletes users")
	}
	if req.User == c.name {
		return nil, hsmwire.Errorf(hsmwire.StatusBadRequest, "a user cannot delete itself")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if u, ok := n.dir.Get(req.User); ok && u.Role == users.RoleAU {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "the appliance user cannot be deleted")
	}
	if n.sessions[req.User] > 0 {
		return nil, hsmwire.Errorf(hsmwire.StatusUserLoggedIn, "%q is logged in; it must log out first", req.User)
	}
	if err := n.dir.Delete(req.User); err != nil {
		return nil, userError(err)
	}
	return &hsmwire.Response{}, n.persistLocked()
}

func (n *Node) listUsers() (*hsmwire.Response, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := []hsmwire.UserInfo{}
	for _, u := range n.dir.Snapshot() {
		out = append(out, hsmwire.UserInfo{Name: u.Name, Role: string(u.Role), Locked: n.dir.Locked(u), FailedLogins: u.FailedLogins, Sessions: n.sessions[u.Name]})
	}
	return jsonResponse(out)
}

func (n *Node) info() (*hsmwire.Response, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return jsonResponse(hsmwire.NodeInfo{
		HSMID:     n.state.HSMID,
		Activated: !n.dir.HasRole(users.RolePreCO) && n.dir.HasRole(users.RoleCO),
		Users:     n.dir.Len(),
		Keys:      len(n.keys),
	})
}

// ownKey checks that the caller is a crypto user owning keyID and returns
// the key's record.
func (n *Node) ownKey(c caller, keyID string) (keyRecord, error) {
	if c.role != users.RoleCU {
		return keyRecord{}, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only crypto users use keys")
	}
	n.mu.RLock()
	rec, ok := n.keys[keyID]
	n.mu.RUnlock()
	if !ok {
		return keyRecord{}, hsmwire.Errorf(hsmwire.StatusKeyNotFound, "key %q not found", keyID)
	}
	if rec.Owner != c.name {
		return keyRecord{}, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "key %q belongs to another user", keyID)
	}
	return rec, nil
}

func (n *Node) generateKey(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if c.role != users.RoleCU {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only crypto users create keys")
	}
	id := "k" + randomHex(8)
	wrapped, err := n.token.GenerateKey(wrapKeyID, softhsm.KeyOptions{ID: id, Label: req.Label})
	if err != nil {
		return nil, tokenError(err)
	}
	rec := keyRecord{Owner: c.name, Label: req.Label, Wrapped: wrapped}
	if err := n.recordKey(id, rec); err != nil {
		return nil, err
	}
	// The answer carries the key masked for the other HSMs of the cluster
	// (what ExportKey returns), saving the client a round trip.
	blob, err := n.seal(masked(id, rec), maskedKeyAAD)
	if err != nil {
		return nil, err
	}
	return &hsmwire.Response{KeyID: id, Data: blob}, nil
}

func (n *Node) deleteKey(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if _, err := n.ownKey(c, req.KeyID); err != nil {
		return nil, err
	}
	// Forgotten first: a kill after this leaves the key deleted for good.
	if err := n.keyDB.delete(req.KeyID); err != nil {
		return nil, err
	}
	n.mu.Lock()
	delete(n.keys, req.KeyID)
	n.mu.Unlock()
	if err := n.token.DeleteKey(req.KeyID); err != nil && !errors.Is(err, softhsm.ErrKeyNotFound) {
		return nil, tokenError(err)
	}
	return &hsmwire.Response{}, nil
}

func (n *Node) listKeys(c caller) (*hsmwire.Response, error) {
	if c.role != users.RoleCU {
		return nil, hsmwire.Errorf(hsmwire.StatusPermissionDenied, "only crypto users list keys")
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := []hsmwire.KeyInfo{}
	for id, rec := range n.keys {
		if rec.Owner == c.name {
			out = append(out, hsmwire.KeyInfo{ID: id, Label: rec.Label})
		}
	}
	return jsonResponse(out)
}

func (n *Node) encrypt(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if _, err := n.ownKey(c, req.KeyID); err != nil {
		return nil, err
	}
	iv, ct, err := n.token.Encrypt(req.KeyID, req.Data, req.AAD)
	if err != nil {
		return nil, tokenError(err)
	}
	return &hsmwire.Response{IV: iv, Data: ct}, nil
}

func (n *Node) decrypt(c caller, req *hsmwire.Request) (*hsmwire.Response, error) {
	if _, err := n.ownKey(c, req.KeyID); err != nil {
		return nil, err
	}
	pt, err := n.token.Decrypt(req.KeyID, req.IV, req.Data, req.AAD)
	if err != nil {
		return nil, tokenError(err)
	}
	return &hsmwire.Response{Data: pt}, nil
}

func (n *Node) generateRandom(req *hsmwire.Request) (*hsmwire.Response, error) {
	b, err := n.token.GenerateRandom(int(req.Count))
	if err != nil {
		return nil, tokenError(err)
	}
	return &hsmwire.Response{Data: b}, nil
}
