package kms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsharness/kmsharness/harness"
	"github.com/kmsharness/kmsharness/kms"
)

// BenchmarkHandlerEncrypt4KiB measures the front end's own cost of one
// Encrypt of 4 KiB with an AWS_KMS key: reading, decoding and validating
// the request, the operation, and encoding the answer, in process, without
// the network (httptest); unsigned, and with the SigV4 check (the request
// signed once, before the loop). Report ns/op and allocs/op.
//
//	go test ./kms -run '^$' -bench HandlerEncrypt4KiB -benchmem
func BenchmarkHandlerEncrypt4KiB(b *testing.B) {
	creds := aws.Credentials{AccessKeyID: harness.AccessKeyID, SecretAccessKey: harness.SecretAccessKey}
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		var opts []kms.Option
		if signed {
			name = "sigv4"
			opts = append(opts, kms.WithCredentials(map[string]string{creds.AccessKeyID: creds.SecretAccessKey}))
		}
		b.Run(name, func(b *testing.B) {
			svc, err := kms.New(nil, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = svc.Close() })
			h := svc.Handler()
			// request builds a request, and signs it when the service checks
			// signatures; header returns a fresh copy of its header.
			request := func(op string, body []byte) (header func() http.Header) {
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
				req.Header.Set("X-Amz-Target", "TrentService."+op)
				if signed {
					sum := sha256.Sum256(body)
					if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), kms.SigningName, "us-east-1", time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				return func() http.Header { return req.Header.Clone() }
			}
			call := func(header http.Header, body []byte) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				req.Header = header
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			create := []byte(`{}`)
			rec := call(request("CreateKey", create)(), create)
			var created struct{ KeyMetadata struct{ KeyId string } }
			if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || rec.Code != http.StatusOK {
				b.Fatalf("CreateKey: %d %s", rec.Code, rec.Body)
			}
			plaintext := make([]byte, 4096)
			_, _ = rand.Read(plaintext)
			body, _ := json.Marshal(map[string]any{"KeyId": created.KeyMetadata.KeyId, "Plaintext": base64.StdEncoding.EncodeToString(plaintext),
				"EncryptionContext": map[string]string{"purpose": "bench"}})
			header := request("Encrypt", body)
			b.SetBytes(int64(len(plaintext)))
			b.ReportAllocs()
			for b.Loop() {
				if rec := call(header(), body); rec.Code != http.StatusOK {
					b.Fatalf("Encrypt: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
