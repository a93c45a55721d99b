package awsjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// The typed inputs the fuzz target decodes into.
type (
	fuzzList struct {
		Limit  int
		Marker string
	}
	fuzzRandom struct {
		NumberOfBytes    int
		CustomKeyStoreID string `json:"CustomKeyStoreId"`
	}
	fuzzEncrypt struct {
		KeyID             string `json:"KeyId"`
		Plaintext         []byte
		EncryptionContext map[string]string
		GrantTokens       []string
		DryRun            *bool
	}
)

// FuzzDecode feeds arbitrary bodies to the one-pass decoder of three KMS
// operations and checks what no body may break: the decoder never panics;
// it fails only with SerializationException or ValidationException; what it
// accepts is JSON, and the values it hands over are the body's own
// (encoding/json reads the same members, matched exactly) and within the
// model's constraints.
//
//	go test ./internal/awsjson -run '^$' -fuzz FuzzDecode -fuzztime 10s
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{}`, ``, `{"Limit":10,"Marker":"abc"}`, `{"limit":-1}`, `{"Limit":-1}`, `{"NumberOfBytes":1,"numberOfBytes":200000000}`,
		`{"KeyId":"k","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"b"},"GrantTokens":["t"],"DryRun":true}`,
		`{"KeyId":"\u006b\ud83d\ude00","Plaintext":"AA=="}`, `{"Limit":1e2}`, `{"x":[[[{"y":null}]]]}`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	model, err := LoadModel(ModelKMS)
	if err != nil {
		f.Fatal(err)
	}
	plans := map[string]*plan{}
	for op, t := range map[string]reflect.Type{"ListKeys": reflect.TypeFor[fuzzList](), "GenerateRandom": reflect.TypeFor[fuzzRandom](), "Encrypt": reflect.TypeFor[fuzzEncrypt]()} {
		if plans[op], err = model.compile(op, t); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var list fuzzList
		var random fuzzRandom
		var enc fuzzEncrypt
		results := map[string]error{
			"ListKeys":       decodeBody(plans["ListKeys"], body, reflect.ValueOf(&list).Elem()),
			"GenerateRandom": decodeBody(plans["GenerateRandom"], body, reflect.ValueOf(&random).Elem()),
			"Encrypt":        decodeBody(plans["Encrypt"], body, reflect.ValueOf(&enc).Elem()),
		}
		var generic map[string]json.RawMessage
		for op, err := range results {
			if err != nil {
				var ae *Error
				if !errors.As(err, &ae) || (ae.Type != "SerializationException" && ae.Type != "ValidationException") || ae.Status != 400 {
					t.Fatalf("%s: %v is not a SerializationException or ValidationException", op, err)
				}
				continue
			}
			if len(bytes.TrimSpace(body)) > 0 {
				if !json.Valid(body) {
					t.Fatalf("%s accepted a body that is not JSON: %q", op, body)
				}
				if err := json.Unmarshal(body, &generic); err != nil {
					t.Fatalf("%s accepted a body that is not an object: %q", op, body)
				}
			}
		}
		member := func(name string, into any) bool {
			raw, ok := generic[name]
			if !ok || string(raw) == "null" {
				return false
			}
			if err := json.Unmarshal(raw, into); err != nil {
				t.Fatalf("member %s of an accepted body: %v", name, err)
			}
			return true
		}
		if results["ListKeys"] == nil {
			if list.Limit != 0 && (list.Limit < 1 || list.Limit > 1000) {
				t.Fatalf("ListKeys handed over Limit %d", list.Limit)
			}
			var limit float64
			if member("Limit", &limit) && limit != float64(list.Limit) {
				t.Fatalf("ListKeys: Limit %d, the body has %v", list.Limit, limit)
			}
			var marker string
			if member("Marker", &marker) && (marker != list.Marker || marker == "" || utf8.RuneCountInString(marker) > 1024) {
				t.Fatalf("ListKeys: Marker %q, the body has %q", list.Marker, marker)
			}
		}
		if results["GenerateRandom"] == nil {
			if random.NumberOfBytes != 0 && (random.NumberOfBytes < 1 || random.NumberOfBytes > 1024) {
				t.Fatalf("GenerateRandom handed over NumberOfBytes %d", random.NumberOfBytes)
			}
			var n float64
			if member("NumberOfBytes", &n) && n != float64(random.NumberOfBytes) {
				t.Fatalf("GenerateRandom: NumberOfBytes %d, the body has %v", random.NumberOfBytes, n)
			}
		}
		if results["Encrypt"] == nil {
			if len(enc.Plaintext) < 1 || len(enc.Plaintext) > 4096 || enc.KeyID == "" || len(enc.GrantTokens) > 10 {
				t.Fatalf("Encrypt handed over %d bytes of plaintext, key %q, %d grant tokens", len(enc.Plaintext), enc.KeyID, len(enc.GrantTokens))
			}
			var pt []byte
			var ctx map[string]string
			if !member("Plaintext", &pt) || !bytes.Equal(pt, enc.Plaintext) {
				t.Fatalf("Encrypt: the plaintext differs from the body's")
			}
			if member("EncryptionContext", &ctx) && !reflect.DeepEqual(ctx, enc.EncryptionContext) {
				t.Fatalf("Encrypt: context %v, the body has %v", enc.EncryptionContext, ctx)
			}
		}
	})
}

// FuzzEncode checks the answer encoder against encoding/json: a string is
// written byte for byte as json.Marshal writes it, and an object of a
// string, a blob and a boolean reads back as the same values.
//
//	go test ./internal/awsjson -run '^$' -fuzz FuzzEncode -fuzztime 10s
func FuzzEncode(f *testing.F) {
	for _, seed := range []string{"", "arn:aws:kms:us-east-1:111122223333:key/1234", "<&>", "a\"b\\c\n\t\x00", "\xff\xfe", "\u2028é😀"} {
		f.Add(seed, []byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, s string, blob []byte, flag bool) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, json.Marshal gives %s", s, got[1:], want)
		}
		o := NewObject(nil)
		o.String("S", s)
		o.Blob("B", blob)
		o.Bool("F", flag)
		var back struct {
			S string
			B []byte
			F bool
		}
		if err := json.Unmarshal(o.Bytes(), &back); err != nil {
			t.Fatalf("%s: %v", o.Bytes(), err)
		}
		var wantS string // what encoding/json's own round trip gives (invalid UTF-8 replaced)
		if err := json.Unmarshal(want, &wantS); err != nil {
			t.Fatal(err)
		}
		if back.S != wantS || !bytes.Equal(back.B, blob) || (blob == nil) != (back.B == nil) || back.F != flag {
			t.Fatalf("%s read back as %+v", o.Bytes(), back)
		}
	})
}
