package faults

import (
	"context"
	"crypto/rand"
	"fmt"
)

// fault is a Fault built from its parts; every catalogue entry is one.
type fault struct {
	name   string
	code   string
	scope  Scope
	inject func(ctx context.Context, t Target, scope Scope) (Heal, error)
}

func (f *fault) Name() string { return f.name }
func (f *fault) Code() string { return f.code }
func (f *fault) Scope() Scope { return f.scope }
func (f *fault) String() string {
	return fmt.Sprintf("%s on %s%s", f.name, f.scope.ClusterID, hsmSuffix(f.scope))
}

func hsmSuffix(s Scope) string {
	if s.HSMID == "" {
		return ""
	}
	return "/" + s.HSMID
}

// Available checks that the cluster (and HSM) exist in the target.
func (f *fault) Available(t Target) error {
	hsms, err := t.HSMs(f.scope.ClusterID)
	if err != nil {
		return err
	}
	if f.scope.HSMID == "" {
		return nil
	}
	for _, h := range hsms {
		if h.ID == f.scope.HSMID {
			return nil
		}
	}
	return fmt.Errorf("HSM %s of cluster %s: %w", f.scope.HSMID, f.scope.ClusterID, ErrUnknownHSM)
}

func (f *fault) Inject(ctx context.Context, t Target) (Heal, error) {
	if err := f.Available(t); err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	heal, err := f.inject(ctx, t, f.scope)
	if err != nil {
		return nil, fmt.Errorf("inject %s: %w", f.name, err)
	}
	return heal, nil
}

// healed is a Heal with nothing to report.
func healed(fn func(ctx context.Context) error) Heal {
	return func(ctx context.Context) (Report, error) { return Report{}, fn(ctx) }
}

// newPassword returns a kmsuser password (24 alphanumeric characters).
func newPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// activeHSMs lists the cluster's ACTIVE HSMs.
func activeHSMs(t Target, clusterID string) ([]HSM, error) {
	hsms, err := t.HSMs(clusterID)
	if err != nil {
		return nil, err
	}
	var out []HSM
	for _, h := range hsms {
		if h.Active {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %s has no ACTIVE HSM: %w", clusterID, ErrNotInjectable)
	}
	return out, nil
}

// resetKMSUser has the officer set a new kmsuser password on every HSM
// (which also unlocks it) and reports it.
func resetKMSUser(ctx context.Context, t Target, clusterID string) (Report, error) {
	officer, err := t.Officer(ctx, clusterID)
	if err != nil {
		return Report{}, err
	}
	defer officer.Close()
	password := newPassword()
	if err := officer.ChangePassword(ctx, KMSUser, password); err != nil {
		return Report{}, err
	}
	return Report{KMSUserPassword: password}, nil
}

// KMSUser is the crypto user KMS logs in as.
const KMSUser = "kmsuser"
