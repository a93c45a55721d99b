package scenarios

import (
	"github.com/anishathalye/porcupine"
)

// step is one operation of a porcupine history: the recorded operation and
// what it means to the model.
type step[T any] struct {
	op    *Operation
	input T
}

// porcupineHistory turns steps into porcupine operations. A process makes
// one call at a time, so its calls can share a porcupine client, except
// after a call with an unknown outcome: that call may take effect at any
// time later (it returns "never"), so the process goes on as a new client.
func porcupineHistory[T any](steps []step[T], end int64) []porcupine.Operation {
	clients := map[string]int{}
	next := 0
	out := make([]porcupine.Operation, 0, len(steps))
	for _, s := range steps {
		id, ok := clients[s.op.Process]
		if !ok {
			id = next
			next++
			clients[s.op.Process] = id
		}
		ret := s.op.End
		if s.op.isUnknown() {
			ret = end + 1
			clients[s.op.Process] = next
			next++
		}
		if ret < s.op.Start {
			ret = s.op.Start
		}
		out = append(out, porcupine.Operation{ClientId: id, Input: s.input, Call: s.op.Start, Output: s.op, Return: ret, Metadata: s.op.Process})
	}
	return out
}

// search runs porcupine over one partition and records it.
func search(name string, model porcupine.Model, history []porcupine.Operation) linearizationRecord {
	result, info := porcupine.CheckOperationsVerbose(model, history, CheckTimeout)
	return linearizationRecord{name: name, model: model, info: info, result: result, history: history}
}

// describeOutput describes an operation of a porcupine history for its
// visualisation.
func describeOutput(output any) string {
	if op, ok := output.(*Operation); ok && op != nil {
		return op.String()
	}
	return ""
}

// visualizationName is the file a partition's porcupine visualisation is
// written to, beside the report.
func visualizationName(partition string) string {
	b := []byte("porcupine-")
	for _, r := range partition {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b = append(b, byte(r))
		case r >= 'A' && r <= 'Z':
			b = append(b, byte(r-'A'+'a'))
		default:
			if b[len(b)-1] != '-' {
				b = append(b, '-')
			}
		}
	}
	return string(b) + ".html"
}
