package control_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kmsharness/kmsharness/control"
)

// FuzzDecodeRequest feeds arbitrary bodies to the request decoder of every
// body the protocol takes: it must accept or refuse each with a typed error
// (400 or 415), never panic, and never accept what is not one JSON object.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{`{"hsms":2}`, `{"name":"user-locked-out","cluster":"cluster-aaaaaaaaaaa","hsm":"hsm-aaaaaaaaaaa"}`,
		`{"store":"cks-aaaaaaaaaaaaaaaaa","transition":"connect"}`, `null`, `{"hsms":1}{}`, `{"hsms":1e999}`, "{\"name\":\"\xff\"}"} {
		f.Add("application/json", seed)
	}
	f.Add("text/plain", `{}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		targets := []any{&control.NewClusterRequest{}, &control.FaultRequest{}, &control.HoldRequest{}}
		for _, v := range targets {
			err := control.DecodeRequest(contentType, strings.NewReader(body), v)
			if err == nil {
				if trimmed := strings.TrimSpace(body); !strings.HasPrefix(trimmed, "{") || !strings.HasSuffix(trimmed, "}") {
					t.Fatalf("accepted %q, which is not one JSON object", body)
				}
				continue
			}
			if !errors.Is(err, control.ErrBadRequest) && !errors.Is(err, control.ErrUnsupportedMediaType) {
				t.Fatalf("%q: untyped error %v", body, err)
			}
		}
	})
}
