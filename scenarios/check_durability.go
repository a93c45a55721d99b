package scenarios

import (
	"fmt"
	"maps"
	"slices"
)

// The durability check: after the final heal, every acknowledged CreateKey
// exists and every acknowledged ciphertext decrypts to its plaintext; and
// at no time does a key that CreateKey acknowledged answer NotFound, or an
// acknowledged ciphertext decrypt to something else or not at all.

// producesCiphertext reports whether a call answers a ciphertext.
func producesCiphertext(call string) bool {
	return call == callEncrypt || call == callGenerateDataKey || call == callGenerateDataKeyWithoutPlaintext || call == callReEncrypt
}

// maxDurabilityViolations bounds the violations reported one by one.
const maxDurabilityViolations = 50

func checkDurability(a *analysis) Verdict {
	var violations []Violation
	add := func(v Violation) {
		if len(violations) < maxDurabilityViolations {
			violations = append(violations, v)
		}
	}
	// Keys: never NotFound after CreateKey acknowledged them; found at the
	// end.
	verifiedKeys := 0
	for key, created := range a.keyCreated {
		s := a.stores[a.keys[key]]
		if s == nil {
			continue
		}
		var lastVerify *Operation
		found := false
		for _, op := range s.ops {
			if op.Key != key || op.Start < created.End {
				continue
			}
			if op.failedWith(excNotFound) {
				add(a.violation(CheckDurability, fmt.Sprintf("key %s, which CreateKey acknowledged, answered NotFoundException: %s",
					key, describeOps(created, op)), created, op))
			}
			if op.Phase == phaseVerify && op.Call == callDescribeKey {
				lastVerify = op
				if op.isOK() && op.KeyState != "PendingDeletion" {
					found = true
				}
			}
		}
		switch {
		case found:
			verifiedKeys++
		case lastVerify == nil:
			add(a.violation(CheckDurability, fmt.Sprintf("key %s, which CreateKey acknowledged, was never described at the end: %s", key, created), created))
		default:
			add(a.violation(CheckDurability, fmt.Sprintf("key %s, which CreateKey acknowledged, is not there at the end: %s",
				key, describeOps(created, lastVerify)), created, lastVerify))
		}
	}
	// Ciphertexts: every decryption of an acknowledged ciphertext gives its
	// plaintext; each one decrypts at the end.
	producers := map[int]*Operation{}
	byDigest := map[string]*Operation{}
	for _, op := range a.ops {
		if producesCiphertext(op.Call) && op.isOK() && op.Ciphertext != "" {
			producers[op.ID] = op
			byDigest[op.Ciphertext] = op
		}
	}
	type ending struct {
		ok   bool
		last *Operation
	}
	endings := map[int]*ending{}
	decryptions := 0
	for _, op := range a.ops {
		if op.Call != callDecrypt && op.Call != callReEncrypt {
			continue
		}
		src := producers[op.Source]
		if op.Source == 0 && op.Call == callDecrypt {
			// A decryption of the user's code names its ciphertext by
			// digest only.
			src = byDigest[op.Ciphertext]
		}
		if src == nil {
			continue
		}
		decryptions++
		switch {
		case op.Call == callDecrypt && op.isOK() && src.Plaintext != "" && op.Plaintext != src.Plaintext:
			add(a.violation(CheckDurability, fmt.Sprintf("a ciphertext decrypted to another plaintext than the one encrypted: %s",
				describeOps(src, op)), src, op))
		case op.failedWith(excInvalidCiphertext) || op.failedWith(excNotFound):
			add(a.violation(CheckDurability, fmt.Sprintf("an acknowledged ciphertext no longer decrypts (%s): %s",
				op.errorType(), describeOps(src, op)), src, op))
		}
		if op.Phase == phaseVerify && op.Call == callDecrypt {
			e := endings[src.ID]
			if e == nil {
				e = &ending{}
				endings[src.ID] = e
			}
			e.last = op
			if op.isOK() && (src.Plaintext == "" || op.Plaintext == src.Plaintext) {
				e.ok = true
			}
		}
	}
	// Ciphertexts not shown to decrypt at the end, one violation per store.
	unverified := map[string][]*Operation{}
	for _, id := range slices.Sorted(maps.Keys(producers)) {
		src := producers[id]
		if src.Workload == userWorkload {
			continue // the run does not know the user's encryption contexts
		}
		if e := endings[id]; e == nil || !e.ok {
			unverified[src.Store] = append(unverified[src.Store], src)
			if e != nil && e.last != nil {
				unverified[src.Store] = append(unverified[src.Store], e.last)
			}
		}
	}
	for _, store := range a.storeOrder {
		ops := unverified[store]
		if len(ops) == 0 {
			continue
		}
		n := 0
		for _, op := range ops {
			if producesCiphertext(op.Call) {
				n++
			}
		}
		shown := ops
		if len(shown) > 6 {
			shown = shown[:6]
		}
		add(a.violation(CheckDurability, fmt.Sprintf("%s of store %s not shown to decrypt at the end: %s",
			plural(n, "acknowledged ciphertext"), store, describeOps(shown...)), shown...))
	}
	return verdict(CheckDurability, fmt.Sprintf("%s and %s acknowledged, %s checked (%s found at the end)",
		plural(len(a.keyCreated), "key"), plural(len(producers), "ciphertext"), plural(decryptions, "decryption"),
		plural(verifiedKeys, "key")), violations)
}
