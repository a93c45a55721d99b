package awsjson_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// BenchmarkDecodeEncrypt4KiB measures reading one Encrypt request with a
// 4 KiB plaintext: decoding and validating it against the KMS model into
// the handler's input type, through the service's HTTP handler (no
// network).
//
//	go test ./internal/awsjson -run '^$' -bench DecodeEncrypt4KiB -benchmem
func BenchmarkDecodeEncrypt4KiB(b *testing.B) {
	model, err := awsjson.LoadModel(awsjson.ModelKMS)
	if err != nil {
		b.Fatal(err)
	}
	type encryptInput struct {
		KeyID               string `json:"KeyId"`
		Plaintext           []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
		DryRun              bool
	}
	svc, err := awsjson.NewService(awsjson.Config{Model: model, Handlers: map[string]awsjson.Handler{
		"Encrypt": awsjson.Op(func(_ context.Context, in *encryptInput) (any, error) {
			if len(in.Plaintext) != 4096 {
				b.Fatal("plaintext not decoded")
			}
			return nil, nil
		}),
	}})
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 4096)
	_, _ = rand.Read(pt)
	body, _ := json.Marshal(map[string]any{"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Plaintext": base64.StdEncoding.EncodeToString(pt),
		"EncryptionContext": map[string]string{"purpose": "bench"}})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", awsjson.ContentType)
		req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
