package awsjson

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"
)

// BenchmarkDecodeOnlyEncrypt4KiB measures the decoder alone: one Encrypt
// body with a 4 KiB plaintext, checked against the KMS model and decoded
// into a typed input.
//
//	go test ./internal/awsjson -run '^$' -bench DecodeOnly -benchmem
func BenchmarkDecodeOnlyEncrypt4KiB(b *testing.B) {
	model, err := LoadModel(ModelKMS)
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
	p, err := model.compile("Encrypt", reflect.TypeFor[encryptInput]())
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
		var in encryptInput
		if err := decodeBody(p, body, reflect.ValueOf(&in).Elem()); err != nil {
			b.Fatal(err)
		}
	}
}
