package kms

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// expectedTransitions is spec §6.1 written out cell by cell, independently
// of decide: for each operation and outcome, the answer in DISCONNECTED,
// CONNECTING, CONNECTED, FAILED, DISCONNECTING and (deleted). "→X" moves the
// store to X, "=" lets the operation happen without moving the store,
// "done" accepts it with nothing to do, "CKSIS" refuses it
// (CustomKeyStoreInvalidStateException), "gone" finds the store deleted
// (CustomKeyStoreNotFoundException), "stale" drops the end of work the
// store left behind.
var expectedTransitions = map[operation]map[outcome][6]string{
	opConnect: {
		succeeded: {"→CONNECTING", "done", "done", "CKSIS", "CKSIS", "gone"},
		failed:    {"=", "done", "done", "CKSIS", "CKSIS", "gone"}, // fast checks failed: stays DISCONNECTED
	},
	opDisconnect: {
		succeeded: {"CKSIS", "→DISCONNECTING", "→DISCONNECTING", "→DISCONNECTING", "CKSIS", "gone"},
		failed:    {"CKSIS", "=", "=", "=", "CKSIS", "gone"},
	},
	opRename: {
		succeeded: {"=", "CKSIS", "=", "CKSIS", "CKSIS", "gone"},
		failed:    {"=", "CKSIS", "=", "CKSIS", "CKSIS", "gone"},
	},
	opUpdateConnection: {
		succeeded: {"=", "CKSIS", "CKSIS", "CKSIS", "CKSIS", "gone"},
		failed:    {"=", "CKSIS", "CKSIS", "CKSIS", "CKSIS", "gone"},
	},
	opDelete: {
		succeeded: {"→(deleted)", "CKSIS", "CKSIS", "CKSIS", "CKSIS", "gone"},
		failed:    {"=", "CKSIS", "CKSIS", "CKSIS", "CKSIS", "gone"}, // keys left: CustomKeyStoreHasCMKsException
	},
	opUseHSMs: {
		succeeded: {"CKSIS", "CKSIS", "=", "CKSIS", "CKSIS", "gone"},
		failed:    {"CKSIS", "CKSIS", "=", "CKSIS", "CKSIS", "gone"},
	},
	opConnectEnd: {
		succeeded: {"stale", "→CONNECTED", "stale", "stale", "stale", "stale"},
		failed:    {"stale", "→FAILED", "stale", "stale", "stale", "stale"},
	},
	opDisconnectEnd: {
		succeeded: {"stale", "stale", "stale", "stale", "→DISCONNECTED", "stale"},
		failed:    {"stale", "stale", "stale", "stale", "→DISCONNECTED", "stale"},
	},
	opRestart: {
		succeeded: {"done", "=", "→CONNECTING", "done", "→DISCONNECTED", "stale"},
		failed:    {"done", "=", "→CONNECTING", "done", "→DISCONNECTED", "stale"},
	},
}

// render writes a transition the way expectedTransitions does.
func render(from ConnectionState, t decision) string {
	switch t.verdict {
	case proceed:
		if t.next == from {
			return "="
		}
		return "→" + string(t.next)
	case alreadyDone:
		return "done"
	case refused:
		return "CKSIS"
	default:
		return t.verdict.String()
	}
}

var _ = Describe("The connection state machine", func() {
	It("answers every state × operation × outcome as spec §6.1 says", func() {
		Expect(expectedTransitions).To(HaveLen(len(operations)), "the table covers every operation")
		var wrong []string
		cells := 0
		for _, op := range operations {
			for _, out := range []outcome{succeeded, failed} {
				row, ok := expectedTransitions[op][out]
				Expect(ok).To(BeTrue(), "the table has %s with outcome %v", op, out)
				for i, state := range connectionStates {
					cells++
					if got := render(state, decide(state, op, out)); got != row[i] {
						wrong = append(wrong, fmt.Sprintf("%s(%v) in %s: %s, want %s", op, out, state, got, row[i]))
					}
				}
			}
		}
		Expect(cells).To(Equal(len(operations) * 2 * len(connectionStates)))
		Expect(wrong).To(BeEmpty(), strings.Join(wrong, "\n"))
	})

	It("moves a store only between states the spec names, and out of (deleted) never", func() {
		for _, op := range operations {
			for _, out := range []outcome{succeeded, failed} {
				for _, state := range connectionStates {
					t := decide(state, op, out)
					if t.verdict == proceed {
						Expect(connectionStates).To(ContainElement(t.next), "%s in %s", op, state)
					} else {
						Expect(t.next).To(BeEmpty(), "only a transition that proceeds names a next state")
					}
					if state == StateDeleted {
						Expect(t.verdict).To(BeElementOf(gone, stale), "%s on a deleted store", op)
					}
				}
			}
		}
	})

	It("refuses the operations of a race instead of corrupting the store", func() {
		// A connect that waited on the cluster while a delete happened.
		Expect(decide(StateDeleted, opConnect, succeeded).verdict).To(Equal(gone))
		// The end of a connect a disconnect abandoned.
		Expect(decide(StateDisconnecting, opConnectEnd, succeeded).verdict).To(Equal(stale))
		// An update that waited while another operation connected the store.
		Expect(decide(StateConnecting, opUpdateConnection, succeeded).verdict).To(Equal(refused))
		// A CreateKey whose store was disconnected while the HSMs made the key.
		Expect(decide(StateDisconnecting, opUseHSMs, succeeded).verdict).To(Equal(refused))
	})
})
