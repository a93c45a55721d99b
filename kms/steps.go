package kms

import "context"

// Step names an instant inside an operation: a point between two of its
// effects where a race or a crash can fall. WithStepHook runs a hook at each
// step, which is how tests hold an operation at an instant (to race another
// operation against it, or to kill the process there) instead of hoping a
// sleep lands on it.
type Step string

// The steps, in the order an operation reaches them.
const (
	// StepCreateStoreChecked: CreateCustomKeyStore described the cluster
	// and is about to record the store (subject: the store's name).
	StepCreateStoreChecked Step = "create-store/checked"
	// StepConnectChecked: ConnectCustomKeyStore passed its fast checks and
	// is about to move the store to CONNECTING.
	StepConnectChecked Step = "connect/checked"
	// StepUpdateChecked: UpdateCustomKeyStore checked the new cluster (if
	// any) and is about to apply the change.
	StepUpdateChecked Step = "update-store/checked"
	// StepCreateKeyGenerated: CreateKey made the key in the HSMs and is
	// about to record it.
	StepCreateKeyGenerated Step = "create-key/generated"
	// StepConnectLoggedIn: a connect logged in as kmsuser on every
	// reachable HSM and is about to rotate its password.
	StepConnectLoggedIn Step = "connect/logged-in"
	// StepRotationPendingSaved: the password a connect is about to give
	// kmsuser is recorded as pending; no HSM has it yet.
	StepRotationPendingSaved Step = "rotation/pending-saved"
	// StepRotationHSMChanged: one more HSM has kmsuser's new password
	// (reached once per HSM).
	StepRotationHSMChanged Step = "rotation/hsm-changed"
	// StepRotationDone: every HSM has kmsuser's new password; KMS has not
	// recorded the connect's end yet.
	StepRotationDone Step = "rotation/done"
	// StepConnectSettled: the connect's end (CONNECTED or FAILED) is
	// recorded.
	StepConnectSettled Step = "connect/settled"
)

// WithStepHook runs hook at every Step an operation reaches, with the ID of
// the store concerned (for StepCreateStoreChecked, the name of the store
// being made). The operation waits for the hook to return; a hook that
// blocks should return when ctx ends (a request cancelled, a connect
// abandoned, the service closing). It is a seam for tests; production runs
// have none.
func WithStepHook(hook func(ctx context.Context, step Step, store string)) Option {
	return func(o *options) { o.stepHook = hook }
}

// step runs the step hook, if any.
func (s *Service) step(ctx context.Context, step Step, store string) {
	if s.opts.stepHook != nil {
		s.opts.stepHook(ctx, step, store)
	}
}
