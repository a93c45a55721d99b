package kms

import (
	"context"
	"crypto/rand"

	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

// rotate gives kmsuser a new password, known only to KMS, on every HSM of
// conns (logged in as kmsuser; took[i] is the password conns[i] took). The
// password lives in two places, the HSMs and KMS's database, so it changes
// in two phases, and a crash or an abandoned connect at any instant leaves
// every HSM with the store's Password or its PendingPassword, both of which
// a connect tries:
//
//  1. HSMs that took the pending password of an earlier, unfinished rotation
//     go back to Password, so that all have the same one.
//  2. The new password is recorded as PendingPassword.
//  3. Each HSM changes to it.
//  4. It is recorded as Password, and PendingPassword cleared.
//
// A connect abandoned before step 2 changes nothing more; one abandoned
// later finishes the rotation (with its own time bounds) and records it,
// since the HSMs' password does not depend on the store's state.
func (s *Service) rotate(ctx context.Context, st *keyStore, attempt uint64, conns []*hsmclient.Conn, took []string) error {
	s.mu.Lock()
	password, current := st.Password, st.awaits(attempt)
	s.mu.Unlock()
	if !current || ctx.Err() != nil {
		return errAbandoned
	}
	work := context.WithoutCancel(ctx)
	for i, c := range conns {
		if took[i] != password {
			if err := s.changePassword(work, c, password); err != nil {
				return err
			}
		}
	}

	next := rotatedPassword()
	s.mu.Lock()
	if !st.awaits(attempt) || ctx.Err() != nil {
		s.mu.Unlock()
		return errAbandoned
	}
	st.PendingPassword = next
	err := s.db.put(bucketStores, st.ID, st)
	s.mu.Unlock()
	if err != nil {
		return fail(CodeInternalError, "recording kmsuser's next password: %v", err)
	}
	s.step(ctx, StepRotationPendingSaved, st.ID)

	for _, c := range conns {
		if err := s.changePassword(work, c, next); err != nil {
			return err
		}
		s.step(ctx, StepRotationHSMChanged, st.ID)
	}
	s.step(ctx, StepRotationDone, st.ID)

	s.mu.Lock()
	defer s.mu.Unlock()
	if st.State == StateDeleted {
		return errAbandoned
	}
	st.Password, st.PendingPassword = next, ""
	if err := s.db.put(bucketStores, st.ID, st); err != nil {
		// PendingPassword stays recorded: the next connect tries it.
		return fail(CodeInternalError, "recording kmsuser's new password: %v", err)
	}
	return nil
}

// changePassword changes kmsuser's password on one HSM (logged in as it).
func (s *Service) changePassword(ctx context.Context, c *hsmclient.Conn, password string) error {
	cctx, cancel := context.WithTimeout(ctx, s.opts.hsmTimeout)
	defer cancel()
	if err := c.ChangePassword(cctx, "", password); err != nil {
		return fail(CodeInternalError, "rotating kmsuser's password on %s: %v", c.HSMID(), err)
	}
	return nil
}

// rotatedPassword is a new kmsuser password: 32 alphanumeric characters,
// the longest CloudHSM allows.
func rotatedPassword() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
