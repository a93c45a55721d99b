package kms_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"pgregory.net/rapid"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/internal/awsjson"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// endpoint is one API of the harness as the property test sees it.
type endpoint struct {
	url, signingName string
	model            *awsjson.Model
	ops              []string
	// internal are the exceptions a server fault (5xx) may carry.
	internal []string
	message  string // the error body's message member
}

func newEndpoint(url, signingName, modelName, message string, internal ...string) endpoint {
	m, err := awsjson.LoadModel(modelName)
	Expect(err).NotTo(HaveOccurred())
	e := endpoint{url: url, signingName: signingName, model: m, internal: internal, message: message}
	for op := range m.Operations {
		e.ops = append(e.ops, op)
	}
	slices.Sort(e.ops)
	return e
}

// value draws a JSON value of a shape: valid by the model's constraints
// (patterns aside), small, at most depth structures deep.
func value(t *rapid.T, m *awsjson.Model, name string, depth int) any {
	s := m.Shapes[name]
	bounds := func(defMin, defMax, capMax int) (int, int) {
		lo, hi := defMin, defMax
		if s.Min != nil {
			lo = int(*s.Min)
		}
		if s.Max != nil {
			hi = int(math.Min(*s.Max, float64(math.MaxInt32)))
		}
		return lo, max(lo, min(hi, lo+capMax))
	}
	switch s.Type {
	case "structure":
		out := map[string]any{}
		for _, member := range sortedKeys(s.Members) {
			if slices.Contains(s.Required, member) || (depth > 0 && rapid.Bool().Draw(t, "optional "+member)) {
				out[member] = value(t, m, s.Members[member], depth-1)
			}
		}
		return out
	case "list":
		lo, hi := bounds(0, 3, 3)
		n := rapid.IntRange(lo, hi).Draw(t, name+" length")
		out := make([]any, n)
		for i := range out {
			out[i] = value(t, m, s.Member, depth-1)
		}
		return out
	case "map":
		lo, hi := bounds(0, 3, 3)
		n := rapid.IntRange(lo, hi).Draw(t, name+" size")
		out := map[string]any{}
		for range n {
			out[fmt.Sprint(value(t, m, s.Key, depth-1))] = value(t, m, s.Value, depth-1)
		}
		return out
	case "string":
		if len(s.Enum) > 0 {
			return rapid.SampledFrom(s.Enum).Draw(t, name)
		}
		lo, hi := bounds(0, 32, 40)
		return rapid.StringOfN(rapid.RuneFrom([]rune("abcxyz019-_/:.é")), lo, hi, -1).Draw(t, name)
	case "blob":
		lo, hi := bounds(0, 64, 64)
		return base64.StdEncoding.EncodeToString(rapid.SliceOfN(rapid.Byte(), lo, hi).Draw(t, name))
	case "integer", "long":
		lo, hi := bounds(-1000, 1000, 2000)
		return rapid.IntRange(lo, hi).Draw(t, name)
	case "boolean":
		return rapid.Bool().Draw(t, name)
	case "timestamp":
		return rapid.Float64Range(0, 2e9).Draw(t, name)
	}
	return rapid.Float64().Draw(t, name)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mutate breaks a valid input in up to three of the ways a careless or
// hostile client would, and returns the body to send.
func mutate(t *rapid.T, m *awsjson.Model, op string, in map[string]any) []byte {
	pick := func() (string, bool) {
		members := sortedKeys(in)
		if len(members) == 0 {
			return "", false
		}
		return rapid.SampledFrom(members).Draw(t, "member"), true
	}
	for range rapid.IntRange(0, 3).Draw(t, "mutations") {
		name, ok := pick()
		switch rapid.IntRange(0, 5).Draw(t, "mutation") {
		case 0: // a member lost (perhaps a required one)
			delete(in, name)
		case 1: // a member's name in another case, which AWS ignores
			if ok {
				in[rapid.SampledFrom([]string{strings.ToLower(name), strings.ToUpper(name)}).Draw(t, "case")] = in[name]
				if rapid.Bool().Draw(t, "drop the original") {
					delete(in, name)
				}
			}
		case 2: // a value of the wrong JSON type, or beyond any bound
			if ok {
				in[name] = rapid.SampledFrom([]any{"text", 0, -1, 12, 1.5, true, nil, []any{1}, map[string]any{"x": 1},
					math.MaxInt64, -math.MaxInt64, 1e300, 200000000, strings.Repeat("x", 5000),
					base64.StdEncoding.EncodeToString(make([]byte, 20000)), "not base64!"}).Draw(t, "bad value")
			}
		case 3: // a member the model does not have
			in["Unmodelled"+rapid.StringMatching(`[A-Za-z]{0,8}`).Draw(t, "unknown")] = map[string]any{"deep": []any{1, "x", nil}}
		case 4: // a bad value under a name of another case
			if ok {
				in[strings.ToLower(name)] = rapid.SampledFrom([]any{-1, 0, 200000000, strings.Repeat("x", 20000), nil}).Draw(t, "bad value")
			}
		case 5: // a value the model allows, for a member of another case
			if ok {
				if shape, known := m.Shapes[m.Operations[op].Input].Members[name]; known {
					in[strings.ToLower(name)] = value(t, m, shape, 1)
				}
			}
		}
	}
	raw, _ := json.Marshal(in)
	switch rapid.IntRange(0, 7).Draw(t, "body") {
	case 0: // a member given twice
		if name, ok := pick(); ok {
			dup, _ := json.Marshal(map[string]any{name: rapid.SampledFrom([]any{-1, 200000000, "x", nil}).Draw(t, "second value")})
			return append(raw[:len(raw)-1], append([]byte(","), dup[1:]...)...)
		}
	case 1: // cut short
		return raw[:rapid.IntRange(0, len(raw)-1).Draw(t, "cut")]
	case 2: // not JSON at all
		return rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "garbage")
	case 3: // JSON, but not one object
		return []byte(rapid.SampledFrom([]string{"null", "[]", "42", `"s"`, "true", "{}{}"}).Draw(t, "not an object"))
	}
	return raw
}

// checkRequest sends one generated request for op, valid or mutated, and
// checks the answer: a JSON object; for an error, one with __type; for a
// server fault, one of the modelled internal exceptions of op with a
// message of its own (a panic or an unexpected Go error is answered with
// the generic "An internal error occurred").
func checkRequest(t *rapid.T, e endpoint, op string, creds aws.Credentials, sent *atomic.Int64) {
	in := map[string]any{}
	if shape := e.model.Operations[op].Input; shape != "" {
		in = value(t, e.model, shape, 3).(map[string]any)
	}
	body := mutate(t, e.model, op, in)
	target := e.model.TargetPrefix + "." + op
	req, err := testenv.AWSJSONRequest(context.Background(), e.url+"/", target, body, creds, e.signingName, h.Region(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", target, body, err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	sent.Add(1)
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", target, err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || out == nil {
		t.Fatalf("%s %s: %d with a body that is not a JSON object: %.200q", target, body, resp.StatusCode, raw)
	}
	if resp.StatusCode == http.StatusOK {
		return
	}
	errType, _ := out["__type"].(string)
	if errType == "" {
		t.Fatalf("%s %s: %d without __type: %s", target, body, resp.StatusCode, raw)
	}
	if resp.StatusCode >= 500 {
		modelled := slices.Contains(e.model.Operations[op].Errors, errType) && slices.Contains(e.internal, errType)
		// A panic or an unexpected Go error is answered with this
		// generic message; every fault the service means to report
		// says what happened.
		if !modelled || out[e.message] == "An internal error occurred" {
			t.Fatalf("%s %s: %d %s", target, body, resp.StatusCode, raw)
		}
	}
}

var _ = Describe("The front end under generated requests", Label("kind:property"), func() {
	It("answers every request, valid or mutated, with JSON: no 5xx but the modelled internal exceptions, never a panic", func(ctx SpecContext) {
		endpoints := []endpoint{
			newEndpoint(h.KMSEndpoint(), "kms", awsjson.ModelKMS, "message", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException"),
			newEndpoint(h.CloudHSMEndpoint(), cloudhsm.SigningName, awsjson.ModelCloudHSM2, "Message", "CloudHsmInternalFailureException"),
		}
		creds := aws.Credentials{AccessKeyID: harness.AccessKeyID, SecretAccessKey: harness.SecretAccessKey}
		var sent atomic.Int64
		// Every operation gets its own run: rapid's choices favour the first
		// of a list, which would leave most operations untried.
		for _, e := range endpoints {
			for _, op := range e.ops {
				rapid.Check(GinkgoT(), func(t *rapid.T) { checkRequest(t, e, op, creds, &sent) })
			}
		}
		AddReportEntry("requests sent", sent.Load())
		fmt.Fprintf(GinkgoWriter, "property test: %d requests\n", sent.Load())
	})
})
