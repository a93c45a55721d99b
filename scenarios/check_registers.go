package scenarios

import (
	"fmt"
	"maps"
	"slices"

	"github.com/anishathalye/porcupine"
)

// The linearizability check: what reads like a register must behave like
// one, with unknown outcomes allowed (porcupine). A store's register holds
// its name and cluster (written by UpdateCustomKeyStore, read by
// DescribeCustomKeyStores) and whether the kmsuser password KMS holds is
// the cluster's (written by an update with a wrong or a reported password,
// by an injection that changes kmsuser's password and by a heal that
// reports a new one; read by the end of each connect: CONNECTED reads
// "right", FAILED INVALID_CREDENTIALS reads "wrong"). A key's register holds
// whether it is enabled (written by EnableKey and DisableKey, read by
// DescribeKey and by cryptography succeeding or failing with
// DisabledException).

// storeRegister is a store's register.
type storeRegister struct {
	name, cluster string
	wrongPassword bool
}

// storeAccess reads or writes some fields of a store's register.
type storeAccess struct {
	write         bool
	name, cluster *string
	wrongPassword *bool
}

func storeRegisterModel(initial storeRegister) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return initial },
		Step: func(state, input, _ any) (bool, any) {
			s, in := state.(storeRegister), input.(storeAccess)
			if in.write {
				if in.name != nil {
					s.name = *in.name
				}
				if in.cluster != nil {
					s.cluster = *in.cluster
				}
				if in.wrongPassword != nil {
					s.wrongPassword = *in.wrongPassword
				}
				return true, s
			}
			ok := (in.name == nil || *in.name == s.name) && (in.cluster == nil || *in.cluster == s.cluster) &&
				(in.wrongPassword == nil || *in.wrongPassword == s.wrongPassword)
			return ok, s
		},
		DescribeOperation: func(input, output any) string {
			in := input.(storeAccess)
			what := describeOutput(output)
			if in.wrongPassword != nil && !in.write {
				if *in.wrongPassword {
					return "connect read: password wrong — " + what
				}
				return "connect read: password right — " + what
			}
			return what
		},
		DescribeState: func(state any) string {
			s := state.(storeRegister)
			pw := "right"
			if s.wrongPassword {
				pw = "wrong"
			}
			return fmt.Sprintf("name %s, cluster %s, password %s", s.name, s.cluster, pw)
		},
	}
}

func keyRegisterModel() porcupine.Model {
	return porcupine.Model{
		Init: func() any { return true },
		Step: func(state, input, _ any) (bool, any) {
			in := input.(keyAccess)
			if in.write {
				return true, in.enabled
			}
			return state.(bool) == in.enabled, state
		},
		DescribeOperation: func(_, output any) string { return describeOutput(output) },
		DescribeState: func(state any) string {
			if state.(bool) {
				return "Enabled"
			}
			return "Disabled"
		},
	}
}

// keyAccess reads or writes a key's enabled state.
type keyAccess struct {
	write, enabled bool
}

func ptr[T any](v T) *T { return &v }

func checkLinearizability(a *analysis) Verdict {
	var violations []Violation
	var records []linearizationRecord
	reads := 0
	for _, id := range a.storeOrder {
		s := a.stores[id]
		steps := a.storeRegisterSteps(s)
		for _, st := range steps {
			if !st.input.write {
				reads++
			}
		}
		if len(steps) == 0 {
			continue
		}
		initial := storeRegister{name: s.name, cluster: s.cluster}
		rec := search("register of "+id, storeRegisterModel(initial), porcupineHistory(steps, a.end))
		records = append(records, rec)
		if rec.result != porcupine.Ok {
			violations = append(violations, a.linearizationViolation(CheckLinearizability, rec, id, "",
				"store %s's name, cluster and kmsuser password do not behave like a register: no order of the updates explains what descriptions and connects read", id))
		}
	}
	keys := slices.Sorted(maps.Keys(a.keys))
	for _, key := range keys {
		steps := a.keyRegisterSteps(key)
		for _, st := range steps {
			if !st.input.write {
				reads++
			}
		}
		if len(steps) == 0 {
			continue
		}
		rec := search("key "+key, keyRegisterModel(), porcupineHistory(steps, a.end))
		records = append(records, rec)
		if rec.result != porcupine.Ok {
			violations = append(violations, a.linearizationViolation(CheckLinearizability, rec, a.keys[key], key,
				"key %s's enabled state does not behave like a register: no order of EnableKey and DisableKey explains what was read", key))
		}
	}
	v := verdict(CheckLinearizability, fmt.Sprintf("%s of %s and %s", plural(reads, "read"), plural(len(a.stores), "store register"),
		plural(len(keys), "key register")), violations)
	v.models = records
	if v.Status == StatusPass && unknownResult(records) {
		v.Status = StatusUnknown
	}
	return v
}

// storeRegisterSteps lists the accesses to a store's register.
func (a *analysis) storeRegisterSteps(s *storeInfo) []step[storeAccess] {
	var steps []step[storeAccess]
	for _, op := range s.ops {
		switch {
		case op.Call == callUpdateStore && !op.isFail() && (op.NewName != "" || op.NewCluster != ""):
			in := storeAccess{write: true}
			if op.NewName != "" {
				in.name = ptr(op.NewName)
			}
			if op.NewCluster != "" {
				in.cluster = ptr(op.NewCluster)
			}
			steps = append(steps, step[storeAccess]{op: op, input: in})
		case op.Call == callDescribeStores && op.isOK() && op.State != "":
			in := storeAccess{}
			if op.Name != "" {
				in.name = ptr(op.Name)
			}
			if op.Cluster != "" {
				in.cluster = ptr(op.Cluster)
			}
			if in.name != nil || in.cluster != nil {
				steps = append(steps, step[storeAccess]{op: op, input: in})
			}
		}
	}
	for _, e := range a.passwordEvents(s) {
		steps = append(steps, step[storeAccess]{op: e.op, input: storeAccess{write: true, wrongPassword: ptr(!e.right)}})
	}
	// The end of each connect reads the password: CONNECTED means it
	// logged in (right), FAILED INVALID_CREDENTIALS that it did not
	// (wrong). The login happened after the store was last seen
	// DISCONNECTED and before the description that shows the outcome.
	var previous *Operation
	var reads []step[storeAccess]
	for _, o := range s.observations {
		prev := previous
		previous = o
		var wrong bool
		switch {
		case o.State == stateConnected:
		case o.State == stateFailed && o.ErrorCode == "INVALID_CREDENTIALS":
			wrong = true
		default:
			continue
		}
		if prev != nil && prev.State == o.State && prev.ErrorCode == o.ErrorCode {
			continue
		}
		q := attemptStart(s, o)
		if q == nil {
			continue
		}
		read := *o
		read.Start = q.Start
		reads = append(reads, step[storeAccess]{op: &read, input: storeAccess{wrongPassword: ptr(wrong)}})
	}
	steps = append(steps, reads...)
	slices.SortStableFunc(steps, func(x, y step[storeAccess]) int {
		switch {
		case x.op.Start < y.op.Start:
			return -1
		case x.op.Start > y.op.Start:
			return 1
		}
		return 0
	})
	return steps
}

// keyRegisterSteps lists the accesses to a key's enabled state.
func (a *analysis) keyRegisterSteps(key string) []step[keyAccess] {
	s := a.stores[a.keys[key]]
	if s == nil {
		return nil
	}
	var steps []step[keyAccess]
	for _, op := range s.ops {
		if op.Key != key {
			continue
		}
		switch op.Call {
		case callEnableKey, callDisableKey:
			if !op.isFail() {
				steps = append(steps, step[keyAccess]{op: op, input: keyAccess{write: true, enabled: op.Call == callEnableKey}})
			}
		case callDescribeKey:
			if op.isOK() && (op.KeyState == "Enabled" || op.KeyState == "Disabled") {
				steps = append(steps, step[keyAccess]{op: op, input: keyAccess{enabled: op.KeyState == "Enabled"}})
			}
		case callEncrypt, callDecrypt, callReEncrypt, callGenerateDataKey, callGenerateDataKeyWithoutPlaintext:
			switch {
			case op.isOK():
				steps = append(steps, step[keyAccess]{op: op, input: keyAccess{enabled: true}})
			case op.failedWith(excDisabled) && op.Call != callReEncrypt:
				steps = append(steps, step[keyAccess]{op: op, input: keyAccess{enabled: false}})
			}
		}
	}
	return steps
}
