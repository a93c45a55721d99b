// Package users is the user model of an emulated CloudHSM: crypto officers,
// crypto users such as kmsuser, the appliance user and the pre-crypto
// officer; password checks with lockout after consecutive failures; and
// password changes. It holds no I/O: the node persists Directory snapshots.
package users

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"unicode"
)

// Role is a CloudHSM user type.
type Role string

// The CloudHSM user types.
const (
	// RolePreCO is the temporary officer of a never-activated cluster;
	// changing its password turns it into a crypto officer.
	RolePreCO Role = "PRECO"
	// RoleCO is a crypto officer: manages users, cannot use keys.
	RoleCO Role = "CO"
	// RoleCU is a crypto user: creates and uses keys (kmsuser is one).
	RoleCU Role = "CU"
	// RoleAU is the appliance user: backs up and restores the HSM.
	RoleAU Role = "AU"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RolePreCO, RoleCO, RoleCU, RoleAU:
		return r, nil
	}
	return "", fmt.Errorf("unknown user type %q (want CO, CU, AU or PRECO)", s)
}

// DefaultLockoutThreshold is how many consecutive failed logins lock a user.
const DefaultLockoutThreshold = 5

// Errors from Directory operations.
var (
	ErrUserNotFound    = errors.New("user not found")
	ErrUserExists      = errors.New("user already exists")
	ErrWrongPassword   = errors.New("wrong password")
	ErrLockedOut       = errors.New("user is locked out")
	ErrInvalidPassword = errors.New("invalid password")
	ErrInvalidName     = errors.New("invalid user name")
)

// User is one user of an HSM. The password is kept only as a salted hash.
type User struct {
	Name         string `json:"name"`
	Role         Role   `json:"role"`
	Salt         []byte `json:"salt"`
	Hash         []byte `json:"hash"`
	FailedLogins int    `json:"failedLogins"`
}

// Directory is the set of users of one HSM. It is not safe for concurrent
// use; the node serialises access.
type Directory struct {
	users     map[string]*User
	threshold int
}

// NewDirectory returns a directory holding users (may be nil) that locks a
// user after threshold consecutive failed logins (DefaultLockoutThreshold
// if threshold < 1).
func NewDirectory(users []User, threshold int) *Directory {
	if threshold < 1 {
		threshold = DefaultLockoutThreshold
	}
	d := &Directory{users: map[string]*User{}, threshold: threshold}
	for _, u := range users {
		d.users[u.Name] = &u
	}
	return d
}

// Snapshot returns a copy of every user, sorted by name, for persistence
// or backup.
func (d *Directory) Snapshot() []User {
	out := make([]User, 0, len(d.users))
	for _, u := range d.users {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len returns the number of users.
func (d *Directory) Len() int { return len(d.users) }

// Get returns a copy of the named user.
func (d *Directory) Get(name string) (User, bool) {
	u, ok := d.users[name]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// Locked reports whether u has reached the lockout threshold.
func (d *Directory) Locked(u User) bool { return u.FailedLogins >= d.threshold }

// ValidateName checks a user name as CloudHSM does: 1 to 31 characters,
// letters, digits and underscores, starting with a letter.
func ValidateName(name string) error {
	if len(name) < 1 || len(name) > 31 {
		return fmt.Errorf("%w: must be 1 to 31 characters", ErrInvalidName)
	}
	for i, r := range name {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || (i > 0 && (unicode.IsDigit(r) || r == '_'))) {
			return fmt.Errorf("%w: letters, digits and underscores, starting with a letter", ErrInvalidName)
		}
	}
	return nil
}

// ValidatePassword checks a password as CloudHSM does: 7 to 32 characters.
// The message never contains the password.
func ValidatePassword(password string) error {
	if len(password) < 7 || len(password) > 32 {
		return fmt.Errorf("%w: must be 7 to 32 characters", ErrInvalidPassword)
	}
	return nil
}

// Create adds a user.
func (d *Directory) Create(name string, role Role, password string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	if _, ok := d.users[name]; ok {
		return fmt.Errorf("%q: %w", name, ErrUserExists)
	}
	u := &User{Name: name, Role: role}
	setPassword(u, password)
	d.users[name] = u
	return nil
}

// Delete removes a user.
func (d *Directory) Delete(name string) error {
	if _, ok := d.users[name]; !ok {
		return fmt.Errorf("%q: %w", name, ErrUserNotFound)
	}
	delete(d.users, name)
	return nil
}

// Authenticate checks a password. A wrong password counts a failure; at the
// threshold the user is locked, and a locked user is refused even with the
// right password. A successful login clears the count.
func (d *Directory) Authenticate(name, password string) (User, error) {
	u, ok := d.users[name]
	if !ok {
		return User{}, fmt.Errorf("%q: %w", name, ErrUserNotFound)
	}
	if d.Locked(*u) {
		return User{}, fmt.Errorf("%q: %w", name, ErrLockedOut)
	}
	if !checkPassword(u, password) {
		u.FailedLogins++
		if d.Locked(*u) {
			return User{}, fmt.Errorf("%q: %w (after %d failed logins)", name, ErrLockedOut, u.FailedLogins)
		}
		return User{}, fmt.Errorf("%q: %w", name, ErrWrongPassword)
	}
	u.FailedLogins = 0
	return *u, nil
}

// SetPassword changes a user's password, clears its failed-login count
// (which unlocks it) and turns a pre-crypto officer into a crypto officer.
// Who may do it is the caller's decision.
func (d *Directory) SetPassword(name, password string) error {
	u, ok := d.users[name]
	if !ok {
		return fmt.Errorf("%q: %w", name, ErrUserNotFound)
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	setPassword(u, password)
	u.FailedLogins = 0
	if u.Role == RolePreCO {
		u.Role = RoleCO
	}
	return nil
}

// HasRole reports whether any user has the role.
func (d *Directory) HasRole(role Role) bool {
	for _, u := range d.users {
		if u.Role == role {
			return true
		}
	}
	return false
}

// pbkdf2Iterations makes a login cost about a millisecond, like a real HSM
// login, without slowing tests down.
const pbkdf2Iterations = 4096

func hashPassword(password string, salt []byte) []byte {
	h, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, 32)
	if err != nil {
		panic(err) // only for invalid parameters, which are constant here
	}
	return h
}

func setPassword(u *User, password string) {
	u.Salt = make([]byte, 16)
	_, _ = rand.Read(u.Salt)
	u.Hash = hashPassword(password, u.Salt)
}

func checkPassword(u *User, password string) bool {
	return subtle.ConstantTimeCompare(hashPassword(password, u.Salt), u.Hash) == 1
}
