// Package scenarios runs chaos scenarios against a KMS implementation that
// serves custom key stores: a seeded schedule of faults (injected and healed
// through the fault-control protocol, package control) while clients call
// the KMS API through the AWS SDK for Go v2; every call, injection, heal and
// repair is recorded in one history, and the history is checked against a
// model of the AWS behaviour written from the spec, not from any
// implementation's code:
//
//   - connection states: every observed state and ConnectionErrorCode
//     follows from what came before by a transition the spec allows
//     (checked with porcupine over a nondeterministic model of the state
//     machine), FAILED carries a code that a fault in place explains, and no
//     connect reports CONNECTED while every way to log in was cut;
//   - linearizability (porcupine) of what reads like a register: a store's
//     name, cluster and kmsuser password, a key's enabled state;
//   - durability: every acknowledged CreateKey exists and every
//     acknowledged ciphertext decrypts to its plaintext;
//   - liveness: every store is CONNECTED, and serves cryptography, within
//     the scenario's bound after the last heal or repair;
//   - errors: every failed call carries an exception the spec allows for
//     that operation in that state.
//
// A scenario is a YAML file (docs/scenarios.md); Load reads one, or a
// built-in of the embedded library (Builtins). Run runs it against a Target
// and returns a Result with the verdicts; Check checks a recorded history
// again. The seed fixes every random choice, so a run can be replayed.
//
// The package talks to the target through the AWS SDK and the control
// client only: it judges any implementation, kmsharness's own included.
package scenarios
