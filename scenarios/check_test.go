package scenarios_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/scenarios"
)

// hist builds a history by hand, a millisecond at a time.
type hist struct {
	h *scenarios.History
}

func ms(n int64) int64 { return n * int64(time.Millisecond) }

// add records an operation from start to end (in milliseconds).
func (b *hist) add(start, end int64, op scenarios.Operation) *scenarios.Operation {
	op.ID = len(b.h.Operations) + 1
	op.Start, op.End = ms(start), ms(end)
	if op.Result == "" {
		op.Result = "ok"
	}
	if op.Phase == "" {
		op.Phase = "run"
	}
	if op.Process == "" {
		op.Process = "client-0.0"
	}
	b.h.Operations = append(b.h.Operations, op)
	return &b.h.Operations[len(b.h.Operations)-1]
}

func failed(exception string) *scenarios.CallError {
	return &scenarios.CallError{Type: exception, Status: 400}
}

const (
	store   = "cks-00000000000000001"
	cluster = "cluster-aaaaaaaaaaa"
	key     = "1111-key"
)

// describe records a description of the store.
func (b *hist) describe(start int64, state, code string) *scenarios.Operation {
	return b.add(start, start+2, scenarios.Operation{Process: "observer", Call: "DescribeCustomKeyStores", Store: store, State: state,
		ErrorCode: code, Name: "s0", Cluster: cluster})
}

// baseline is a history of a correct target: a store connected, a key
// made, encryptions and decryptions, a black hole on the cluster during
// which encryptions fail, a key disabled and enabled again, and the final
// checks.
func baseline() *hist {
	b := &hist{h: &scenarios.History{Version: scenarios.HistoryVersion, Seed: 1, Duration: 10 * time.Second,
		Scenario: &scenarios.Scenario{Name: "unit", Duration: 10 * time.Second, Clusters: 1, HSMs: 2, Keys: 1,
			Expect: scenarios.Expectations{AllConnectedWithin: 5 * time.Second}},
		Catalogue: []control.Fault{{Name: "user-locked-out", Code: "USER_LOCKED_OUT"}, {Name: "node-killed", NeedsHSM: true},
			{Name: "network-blackhole"}, {Name: "invalid-credentials", Code: "INVALID_CREDENTIALS"}},
		Clusters: []scenarios.ClusterRecord{{Index: 0, ID: cluster, HSMs: []control.HSM{{HSMID: "hsm-1"}, {HSMID: "hsm-2"}}}},
		Stores:   []scenarios.StoreRecord{{Index: 0, ID: store, Name: "s0", Cluster: cluster}},
		RunStart: ms(300), RunEnd: ms(3000), LastRepair: ms(3000),
	}}
	b.add(0, 10, scenarios.Operation{Process: "setup", Phase: "setup", Call: "CreateCustomKeyStore", Store: store, NewName: "s0", Cluster: cluster})
	b.describe(10, "DISCONNECTED", "").Phase = "setup"
	b.add(12, 14, scenarios.Operation{Process: "setup", Phase: "setup", Call: "ConnectCustomKeyStore", Store: store})
	b.describe(14, "CONNECTING", "").Phase = "setup"
	b.describe(200, "CONNECTED", "").Phase = "setup"
	b.add(210, 220, scenarios.Operation{Process: "setup", Phase: "setup", Call: "CreateKey", Store: store, Key: key})
	b.add(230, 235, scenarios.Operation{Process: "setup", Phase: "setup", Call: "Encrypt", Store: store, Key: key, Plaintext: "p0", Ciphertext: "c0"})
	for t := int64(300); t < 3000; t += 100 {
		b.describe(t, "CONNECTED", "")
	}
	b.add(400, 405, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Plaintext: "p1", Ciphertext: "c1"})
	b.add(450, 455, scenarios.Operation{Call: "Decrypt", Store: store, Key: key, Ciphertext: "c0", Source: 7, Plaintext: "p0"})
	b.add(1000, 1010, scenarios.Operation{Process: "nemesis", Call: "InjectFault", Fault: "network-blackhole", Cluster: cluster})
	b.add(1100, 1200, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Plaintext: "p2", Result: "fail", Error: failed("KMSInvalidStateException")})
	b.add(1500, 1510, scenarios.Operation{Process: "nemesis", Call: "HealFault", Fault: "network-blackhole", Cluster: cluster})
	b.add(1600, 1605, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Plaintext: "p3", Ciphertext: "c3"})
	b.add(1700, 1702, scenarios.Operation{Call: "DisableKey", Store: store, Key: key})
	b.add(1800, 1802, scenarios.Operation{Call: "DescribeKey", Store: store, Key: key, KeyState: "Disabled"})
	b.add(1850, 1852, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Plaintext: "p4", Result: "fail", Error: failed("DisabledException")})
	b.add(1900, 1902, scenarios.Operation{Call: "EnableKey", Store: store, Key: key})
	b.add(2000, 2005, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Plaintext: "p5", Ciphertext: "c5"})
	b.describe(3010, "CONNECTED", "").Phase = "settle"
	b.add(3020, 3025, scenarios.Operation{Process: "settle-0", Phase: "settle", Call: "Encrypt", Store: store, Key: key, Plaintext: "p6", Ciphertext: "c6"})
	b.add(3100, 3102, scenarios.Operation{Process: "verify-0", Phase: "verify", Call: "DescribeKey", Store: store, Key: key, KeyState: "Enabled"})
	for i, src := range b.producers() {
		b.add(3110+int64(i)*5, 3112+int64(i)*5, scenarios.Operation{Process: "verify-0", Phase: "verify", Call: "Decrypt", Store: store, Key: key,
			Ciphertext: src.Ciphertext, Source: src.ID, Plaintext: src.Plaintext})
	}
	return b
}

// producers lists the operations that made ciphertexts.
func (b *hist) producers() []scenarios.Operation {
	var out []scenarios.Operation
	for _, op := range b.h.Operations {
		if op.Call == "Encrypt" && op.Result == "ok" {
			out = append(out, op)
		}
	}
	return out
}

// verdicts checks the history and returns the status of each check.
func (b *hist) verdicts() map[string]scenarios.Verdict {
	out := map[string]scenarios.Verdict{}
	for _, v := range scenarios.Check(b.h) {
		out[v.Check] = v
	}
	return out
}

// failing lists the checks that do not pass, with their first message.
func (b *hist) failing() map[string]string {
	out := map[string]string{}
	for name, v := range b.verdicts() {
		if v.Status != scenarios.StatusPass {
			msg := v.Status
			if len(v.Violations) > 0 {
				msg = v.Violations[0].Message
			}
			out[name] = msg
		}
	}
	return out
}

var _ = Describe("The checker", func() {
	It("passes the history of a correct target, saying what it looked at", func() {
		b := baseline()
		Expect(b.failing()).To(BeEmpty())
		v := b.verdicts()
		Expect(v[scenarios.CheckConnectionStates].Summary).To(ContainSubstring("descriptions of 1 store"))
		Expect(v[scenarios.CheckDurability].Summary).To(ContainSubstring("1 key and 5 ciphertexts acknowledged"))
		Expect(v[scenarios.CheckErrors].Summary).To(ContainSubstring("KMSInvalidStateException ×1"))
	})

	DescribeTable("fails a broken history on the right check",
		func(check, message string, breakIt func(b *hist)) {
			b := baseline()
			breakIt(b)
			failing := b.failing()
			Expect(failing).To(HaveKey(check))
			Expect(failing[check]).To(ContainSubstring(message))
		},
		Entry("a CONNECTED store that becomes DISCONNECTED with no disconnect", scenarios.CheckConnectionStates, "follow no order of the state machine",
			func(b *hist) { b.describe(2505, "DISCONNECTED", "") }),
		Entry("a Disconnect refused while the store was CONNECTED", scenarios.CheckConnectionStates, "state machine",
			func(b *hist) {
				b.add(2505, 2506, scenarios.Operation{Call: "DisconnectCustomKeyStore", Store: store, Result: "fail", Error: failed("CustomKeyStoreInvalidStateException")})
			}),
		Entry("an encryption that succeeds while the store is DISCONNECTED", scenarios.CheckConnectionStates, "state machine",
			func(b *hist) {
				b.add(2405, 2406, scenarios.Operation{Call: "DisconnectCustomKeyStore", Store: store})
				for i := range b.h.Operations {
					if op := &b.h.Operations[i]; op.Call == "DescribeCustomKeyStores" && op.Start >= ms(2500) && op.Phase == "run" {
						op.State = "DISCONNECTED"
					}
				}
				b.add(2505, 2506, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Plaintext: "px", Ciphertext: "cx"})
				b.add(2700, 2701, scenarios.Operation{Call: "ConnectCustomKeyStore", Store: store})
				b.add(2800, 2801, scenarios.Operation{Process: "verify-0", Phase: "verify", Call: "Decrypt", Store: store, Key: key, Ciphertext: "cx", Source: len(b.h.Operations) - 1, Plaintext: "px"})
			}),
		Entry("Connect and Delete both accepted on one DISCONNECTED store", scenarios.CheckConnectionStates, "state machine",
			func(b *hist) {
				b.add(2405, 2406, scenarios.Operation{Call: "DisconnectCustomKeyStore", Store: store})
				for i := range b.h.Operations {
					if op := &b.h.Operations[i]; op.Call == "DescribeCustomKeyStores" && op.Start >= ms(2500) && op.Phase == "run" {
						op.State = "DISCONNECTED"
					}
				}
				b.add(2550, 2560, scenarios.Operation{Process: "a", Call: "ConnectCustomKeyStore", Store: store})
				b.add(2551, 2561, scenarios.Operation{Process: "b", Call: "DeleteCustomKeyStore", Store: store})
			}),
		Entry("a FAILED code nothing in place explains", scenarios.CheckConnectionStates, "nothing in place during its connect",
			func(b *hist) { reconnect(b, "FAILED", "USER_LOCKED_OUT") }),
		Entry("CONNECTED while kmsuser was locked out all along", scenarios.CheckConnectionStates, "although no connect could log in",
			func(b *hist) {
				b.add(2100, 2110, scenarios.Operation{Process: "nemesis", Call: "InjectFault", Fault: "user-locked-out", Cluster: cluster})
				reconnect(b, "CONNECTED", "")
			}),
		Entry("a FAILED store without its code", scenarios.CheckConnectionStates, "must carry its ConnectionErrorCode",
			func(b *hist) {
				b.add(2100, 2110, scenarios.Operation{Process: "nemesis", Call: "InjectFault", Fault: "user-locked-out", Cluster: cluster})
				reconnect(b, "FAILED", "")
			}),
		Entry("a rename that a later description does not read", scenarios.CheckLinearizability, "do not behave like a register",
			func(b *hist) {
				b.add(2100, 2102, scenarios.Operation{Call: "UpdateCustomKeyStore", Store: store, NewName: "renamed"})
			}),
		Entry("an encryption with a key DisableKey disabled", scenarios.CheckLinearizability, "enabled state does not behave like a register",
			func(b *hist) {
				b.add(1860, 1862, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Plaintext: "pz", Ciphertext: "cz"})
				b.add(3200, 3202, scenarios.Operation{Process: "verify-0", Phase: "verify", Call: "Decrypt", Store: store, Key: key, Ciphertext: "cz", Source: len(b.h.Operations), Plaintext: "pz"})
			}),
		Entry("INVALID_CREDENTIALS although KMS holds the right password", scenarios.CheckLinearizability, "kmsuser password do not behave like a register",
			func(b *hist) { reconnect(b, "FAILED", "INVALID_CREDENTIALS") }),
		Entry("an acknowledged key gone at the end", scenarios.CheckDurability, "which CreateKey acknowledged",
			func(b *hist) {
				for i := range b.h.Operations {
					if op := &b.h.Operations[i]; op.Phase == "verify" && op.Call == "DescribeKey" {
						op.Result, op.KeyState, op.Error = "fail", "", failed("NotFoundException")
					}
				}
			}),
		Entry("a ciphertext that decrypts to another plaintext", scenarios.CheckDurability, "decrypted to another plaintext",
			func(b *hist) {
				for i := range b.h.Operations {
					if op := &b.h.Operations[i]; op.Phase == "verify" && op.Call == "Decrypt" && op.Ciphertext == "c1" {
						op.Plaintext = "something else"
					}
				}
			}),
		Entry("a ciphertext never decrypted at the end", scenarios.CheckDurability, "not shown to decrypt at the end",
			func(b *hist) {
				for i := range b.h.Operations {
					if op := &b.h.Operations[i]; op.Phase == "verify" && op.Call == "Decrypt" && op.Ciphertext == "c3" {
						op.Result, op.Plaintext, op.Error = "fail", "", failed("KMSInvalidStateException")
					}
				}
			}),
		Entry("a store left FAILED after the last repair", scenarios.CheckLiveness, "was not CONNECTED within 5s",
			func(b *hist) {
				for i := range b.h.Operations {
					if op := &b.h.Operations[i]; op.Phase == "settle" && op.Call == "DescribeCustomKeyStores" {
						op.State, op.ErrorCode = "FAILED", "NETWORK_ERRORS"
					}
				}
			}),
		Entry("an exception the operation cannot answer", scenarios.CheckErrors, "Encrypt cannot answer IncorrectKeyException",
			func(b *hist) {
				b.add(2100, 2101, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Result: "fail", Error: failed("IncorrectKeyException")})
			}),
		Entry("a KMSInternalException with no fault anywhere near", scenarios.CheckErrors, "with no fault on the store's cluster",
			func(b *hist) {
				b.h.Scenario.Expect.AllConnectedWithin = 100 * time.Millisecond
				b.add(2500, 2501, scenarios.Operation{Call: "CreateKey", Store: store, Result: "fail", Error: &scenarios.CallError{Type: "KMSInternalException", Status: 500}})
			}),
		Entry("KMSInvalidStateException while CONNECTED and no fault", scenarios.CheckErrors, "CONNECTED throughout",
			func(b *hist) {
				b.h.Scenario.Expect.AllConnectedWithin = 100 * time.Millisecond
				b.add(2450, 2452, scenarios.Operation{Call: "Encrypt", Store: store, Key: key, Result: "fail", Error: failed("KMSInvalidStateException")})
			}),
		Entry("an error without an exception type", scenarios.CheckErrors, "without an exception type",
			func(b *hist) {
				b.add(2100, 2101, scenarios.Operation{Call: "DescribeKey", Store: store, Key: key, Result: "fail", Error: &scenarios.CallError{Type: "(untyped)", Status: 502}})
			}),
		Entry("an injection the control API failed", scenarios.CheckSchedule, "refused inject node-killed",
			func(b *hist) {
				b.add(2100, 2101, scenarios.Operation{Process: "nemesis", Call: "InjectFault", Fault: "node-killed", Cluster: cluster, HSM: "hsm-1",
					Result: "fail", Error: &scenarios.CallError{Type: "(control API server error)", Status: 500}})
			}),
		Entry("an expectation not met", scenarios.CheckExpectations, "expected store 0 to be described FAILED NETWORK_ERRORS",
			func(b *hist) {
				zero := 0
				b.h.Scenario.Expect.Observed = []scenarios.Observed{{Store: &zero, State: "FAILED", Code: "NETWORK_ERRORS"}}
			}),
	)

	It("puts a server error after a second's wait down to a slow cluster, not to the target", func() {
		b := baseline()
		b.h.Scenario.Expect.AllConnectedWithin = 100 * time.Millisecond
		b.add(2100, 3300, scenarios.Operation{Call: "CreateKey", Store: store, Result: "fail", Error: &scenarios.CallError{Type: "KMSInternalException", Status: 500}})
		Expect(b.failing()).To(BeEmpty())
	})

	It("allows an unknown outcome either way", func() {
		for _, seen := range []string{"s0", "renamed"} {
			b := baseline()
			b.add(2100, 2102, scenarios.Operation{Call: "UpdateCustomKeyStore", Store: store, NewName: "renamed", Result: "unknown"})
			for i := range b.h.Operations {
				if op := &b.h.Operations[i]; op.Call == "DescribeCustomKeyStores" && op.Start > ms(2200) {
					op.Name = seen
				}
			}
			Expect(b.failing()).To(BeEmpty(), "the description read %s", seen)
		}
	})

	It("accepts INVALID_CREDENTIALS after a client told KMS a wrong password, and the repair with the reported one", func() {
		b := baseline()
		b.add(2100, 2101, scenarios.Operation{Call: "DisconnectCustomKeyStore", Store: store})
		for i := range b.h.Operations {
			if op := &b.h.Operations[i]; op.Call == "DescribeCustomKeyStores" && op.Start > ms(2150) && op.Phase == "run" {
				op.State = "DISCONNECTED"
			}
		}
		b.add(2210, 2211, scenarios.Operation{Call: "UpdateCustomKeyStore", Store: store, Password: "wrong"})
		b.add(2220, 2221, scenarios.Operation{Call: "ConnectCustomKeyStore", Store: store})
		for i := range b.h.Operations {
			if op := &b.h.Operations[i]; op.Call == "DescribeCustomKeyStores" && op.Start > ms(2250) && op.Phase == "run" {
				op.State, op.ErrorCode = "FAILED", "INVALID_CREDENTIALS"
			}
		}
		b.add(2950, 2951, scenarios.Operation{Process: "settle", Phase: "settle", Call: "DisconnectCustomKeyStore", Store: store})
		b.add(2960, 2961, scenarios.Operation{Process: "settle", Phase: "settle", Call: "UpdateCustomKeyStore", Store: store, Password: "reported"})
		b.add(2970, 2971, scenarios.Operation{Process: "settle", Phase: "settle", Call: "ConnectCustomKeyStore", Store: store})
		b.add(2955, 2956, scenarios.Operation{Process: "settle", Phase: "settle", Call: "DescribeCustomKeyStores", Store: store, State: "DISCONNECTED", Name: "s0", Cluster: cluster})
		Expect(b.failing()).To(BeEmpty())
	})

	It("names the operations involved, with their times and the faults in place", func() {
		b := baseline()
		b.add(2100, 2110, scenarios.Operation{Process: "nemesis", Call: "InjectFault", Fault: "user-locked-out", Cluster: cluster})
		reconnect(b, "CONNECTED", "")
		var v scenarios.Violation
		for _, verdict := range scenarios.Check(b.h) {
			if verdict.Check == scenarios.CheckConnectionStates {
				v = verdict.Violations[0]
			}
		}
		Expect(v.Ops).NotTo(BeEmpty())
		Expect(v.From).To(BeNumerically("<", v.To))
		Expect(strings.Join(v.Faults, " ")).To(ContainSubstring("user-locked-out on " + cluster))
		Expect(v.Message).To(ContainSubstring(fmt.Sprintf("store %s went from DISCONNECTED to CONNECTED", store)))
	})
})

// reconnect disconnects the store at 2200 ms, shows it DISCONNECTED, then
// connects it and shows the connect end in state (code) from 2500 ms on;
// the settle phase repairs it.
func reconnect(b *hist, state, code string) {
	b.add(2200, 2201, scenarios.Operation{Call: "DisconnectCustomKeyStore", Store: store})
	b.add(2300, 2301, scenarios.Operation{Call: "ConnectCustomKeyStore", Store: store})
	for i := range b.h.Operations {
		op := &b.h.Operations[i]
		if op.Call != "DescribeCustomKeyStores" || op.Phase != "run" {
			continue
		}
		switch {
		case op.Start >= ms(2200) && op.Start < ms(2300):
			op.State = "DISCONNECTED"
		case op.Start >= ms(2300) && op.Start < ms(2500):
			op.State = "CONNECTING"
		case op.Start >= ms(2500):
			op.State, op.ErrorCode = state, code
		}
	}
	if state != "CONNECTED" {
		b.add(2950, 2951, scenarios.Operation{Process: "settle", Phase: "settle", Call: "DisconnectCustomKeyStore", Store: store})
		b.add(2955, 2956, scenarios.Operation{Process: "settle", Phase: "settle", Call: "DescribeCustomKeyStores", Store: store, State: "DISCONNECTED", Name: "s0", Cluster: cluster})
		b.add(2970, 2971, scenarios.Operation{Process: "settle", Phase: "settle", Call: "ConnectCustomKeyStore", Store: store})
	}
}
