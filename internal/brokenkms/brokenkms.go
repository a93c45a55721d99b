// Package brokenkms wraps a KMS endpoint in deliberately broken variants —
// each one a mistake an emulator could make — so that tests can check that
// the conformance suites catch every one of them, on the right rule. A
// variant rewrites requests or answers on the way; the KMS behind stays
// correct.
package brokenkms

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Variant is one broken behaviour.
type Variant struct {
	// Name names the mistake.
	Name string
	// Rule is what must fail because of it: for Variants, the ID of the
	// conformance rule (package suites) whose spec must fail; for chaos
	// variants, the check's description.
	Rule string
	// rewrite changes one exchange: it may change the request body, and
	// gets the answer (status, body) to change.
	request  func(op string, body map[string]any)
	response func(op string, req map[string]any, status int, body map[string]any) (int, map[string]any)
}

// Variants are the broken behaviours the suites must catch. They are meant
// to front a KMS that does not check signatures (harness.AuthNone): the
// variants that rewrite requests would break a signature, and one of them
// is precisely a front end that checks none.
var Variants = []Variant{
	{Name: "signature-not-checked", Rule: "CKS-AUTH-004"},
	{Name: "duplicate-names-accepted", Rule: "CKS-CREATE-002",
		request: func(op string, body map[string]any) {
			if op == "CreateCustomKeyStore" {
				if name, ok := body["CustomKeyStoreName"].(string); ok {
					body["CustomKeyStoreName"] = name + "-" + randomSuffix()
				}
			}
		}},
	{Name: "truncated-always-false", Rule: "CKS-LISTKEYS-001",
		response: func(op string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
			if op == "ListKeys" && status == http.StatusOK {
				body["Truncated"] = false
			}
			return status, body
		}},
	{Name: "marker-ignored", Rule: "CKS-LISTKEYS-001",
		request: func(op string, body map[string]any) {
			if op == "ListKeys" {
				delete(body, "Marker")
			}
		}},
	{Name: "connect-on-failed-accepted", Rule: "CKS-CONNECT-002",
		response: func(op string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
			if op == "ConnectCustomKeyStore" && body["__type"] == "CustomKeyStoreInvalidStateException" {
				return http.StatusOK, map[string]any{}
			}
			return status, body
		}},
	{Name: "connected-without-connecting", Rule: "CKS-CONNECT-001",
		response: describedAs("CONNECTING", "CONNECTED")},
	{Name: "unknown-name-filter-empty-list", Rule: "CKS-DESCRIBE-001",
		response: func(op string, req map[string]any, status int, body map[string]any) (int, map[string]any) {
			if op == "DescribeCustomKeyStores" && body["__type"] == "CustomKeyStoreNotFoundException" {
				return http.StatusOK, map[string]any{"CustomKeyStores": []any{}, "Truncated": false}
			}
			return status, body
		}},
	{Name: "delete-with-keys-accepted", Rule: "CKS-DELETE-001",
		response: func(op string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
			if op == "DeleteCustomKeyStore" && body["__type"] == "CustomKeyStoreHasCMKsException" {
				return http.StatusOK, map[string]any{}
			}
			return status, body
		}},
	{Name: "wrong-exception-type", Rule: "CKS-DISCONNECT-001",
		response: func(op string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
			if op == "DisconnectCustomKeyStore" && body["__type"] == "CustomKeyStoreInvalidStateException" {
				body["__type"] = "KMSInvalidStateException"
			}
			return status, body
		}},
	{Name: "stays-connecting", Rule: "CKS-CONNECT-001",
		response: describedAs("CONNECTED", "CONNECTING")},
	{Name: "failed-without-error-code", Rule: "CKS-CONNECT-002",
		response: func(op string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
			describedStores(op, status, body, func(m map[string]any) {
				if m["ConnectionState"] == "FAILED" {
					delete(m, "ConnectionErrorCode")
				}
			})
			return status, body
		}},
	pagesRepeatAnItem(),
	{Name: "validation-as-server-error", Rule: "CKS-PROTOCOL-003",
		response: func(_ string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
			if body["__type"] == "ValidationException" {
				return http.StatusInternalServerError, body
			}
			return status, body
		}},
}

// describedStores applies change to every store of a DescribeCustomKeyStores
// answer.
func describedStores(op string, status int, body map[string]any, change func(store map[string]any)) {
	if op != "DescribeCustomKeyStores" || status != http.StatusOK {
		return
	}
	stores, _ := body["CustomKeyStores"].([]any)
	for _, s := range stores {
		if m, ok := s.(map[string]any); ok {
			change(m)
		}
	}
}

// LabelFilter selects the spec of the variant's rule (a Ginkgo label
// filter).
func (v Variant) LabelFilter() string { return "rule:" + v.Rule }

// describedAs answers every store described in state from as in state to.
func describedAs(from, to string) func(string, map[string]any, int, map[string]any) (int, map[string]any) {
	return func(op string, _ map[string]any, status int, body map[string]any) (int, map[string]any) {
		describedStores(op, status, body, func(m map[string]any) {
			if m["ConnectionState"] == from {
				m["ConnectionState"] = to
			}
		})
		return status, body
	}
}

// Handler serves the variant in front of next (the correct KMS).
func (v Variant) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
		raw, _ := io.ReadAll(r.Body)
		req := map[string]any{}
		_ = json.Unmarshal(raw, &req)
		if v.request != nil && json.Valid(raw) {
			v.request(op, req)
			raw, _ = json.Marshal(req)
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		status, out := rec.Code, rec.Body.Bytes()
		if v.response != nil {
			body := map[string]any{}
			if json.Unmarshal(out, &body) == nil {
				var changed map[string]any
				status, changed = v.response(op, req, status, body)
				out, _ = json.Marshal(changed)
			}
		}
		for k, vals := range rec.Header() {
			for _, val := range vals {
				w.Header().Add(k, val)
			}
		}
		if et, ok := jsonType(out); ok {
			w.Header().Set("X-Amzn-ErrorType", et)
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(status)
		_, _ = w.Write(out)
	})
}

// jsonType returns the __type of an error body.
func jsonType(body []byte) (string, bool) {
	var e struct {
		Type string `json:"__type"`
	}
	if json.Unmarshal(body, &e) == nil && e.Type != "" {
		return e.Type, true
	}
	return "", false
}

// pagesRepeatAnItem repeats the last key of a truncated ListKeys page at
// the top of the next page (dropping that page's last key to keep within
// the limit): a marker that points one item too early.
func pagesRepeatAnItem() Variant {
	var mu sync.Mutex
	lastOf := map[string]any{} // NextMarker → the last key of its page
	return Variant{Name: "pages-repeat-an-item", Rule: "CKS-LISTKEYS-001",
		response: func(op string, req map[string]any, status int, body map[string]any) (int, map[string]any) {
			if op != "ListKeys" || status != http.StatusOK {
				return status, body
			}
			keys, _ := body["Keys"].([]any)
			mu.Lock()
			defer mu.Unlock()
			if marker, ok := req["Marker"].(string); ok {
				if last, ok := lastOf[marker]; ok && len(keys) > 0 {
					keys = append([]any{last}, keys[:len(keys)-1]...)
				}
			}
			if next, ok := body["NextMarker"].(string); ok && len(keys) > 0 {
				lastOf[next] = keys[len(keys)-1]
			}
			body["Keys"] = keys
			return status, body
		}}
}
