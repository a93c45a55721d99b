package kms_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kmsharness/kmsharness/kms"
)

// BenchmarkHandlerEncrypt4KiB measures the front end's own cost of one
// Encrypt of 4 KiB with an AWS_KMS key: reading, decoding and validating
// the request, the operation, and encoding the answer, in process, without
// the network (httptest). Report ns/op and allocs/op.
//
//	go test ./kms -run '^$' -bench HandlerEncrypt4KiB -benchmem
func BenchmarkHandlerEncrypt4KiB(b *testing.B) {
	svc, err := kms.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Close() })
	h := svc.Handler()
	call := func(op string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService."+op)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := call("CreateKey", []byte(`{}`))
	var created struct{ KeyMetadata struct{ KeyId string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || rec.Code != http.StatusOK {
		b.Fatalf("CreateKey: %d %s", rec.Code, rec.Body)
	}
	plaintext := make([]byte, 4096)
	_, _ = rand.Read(plaintext)
	body, _ := json.Marshal(map[string]any{"KeyId": created.KeyMetadata.KeyId, "Plaintext": base64.StdEncoding.EncodeToString(plaintext),
		"EncryptionContext": map[string]string{"purpose": "bench"}})
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if rec := call("Encrypt", body); rec.Code != http.StatusOK {
			b.Fatalf("Encrypt: %d %s", rec.Code, rec.Body)
		}
	}
}
