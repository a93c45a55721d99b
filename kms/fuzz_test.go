package kms

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
)

// FuzzMarker checks pagination markers against arbitrary input: parsing
// never panics and accepts only markers this service made for the same
// listing (so a marker cannot be forged or moved to another listing), and
// every marker it makes parses back to its sequence number.
//
//	go test ./kms -run '^$' -fuzz FuzzMarker -fuzztime 10s
func FuzzMarker(f *testing.F) {
	m := markers{secret: bytes.Repeat([]byte{1}, 32)}
	f.Add("keys", uint64(5), m.make("keys", 5), 0)
	f.Add("aliases:"+uuid.NewString(), uint64(1<<63), m.make("stores", 9), 3)
	f.Add("stores", uint64(0), "", 0)
	f.Add("keys", uint64(1), "a2V5czoAAAAAAAAAAQ", 7)
	f.Fuzz(func(t *testing.T, listing string, seq uint64, marker string, flip int) {
		got, err := m.parse(listing, m.make(listing, seq))
		if err != nil || got != seq {
			t.Fatalf("a marker of %q at %d parses to %d, %v", listing, seq, got, err)
		}
		if after, err := m.parse(listing, marker); err == nil && m.make(listing, after) != marker {
			t.Fatalf("%q was accepted for %q but is not the marker this service makes", marker, listing)
		}
		if raw := []byte(m.make(listing, seq)); len(raw) > 0 {
			i := (flip%len(raw) + len(raw)) % len(raw)
			raw[i] ^= 0x01
			if _, err := m.parse(listing, string(raw)); err == nil {
				t.Fatalf("a marker changed at byte %d was accepted", i)
			}
		}
	})
}

// FuzzCiphertext checks the ciphertext blob parser against arbitrary
// blobs: it never panics, and every blob it accepts is exactly the blob
// its parts marshal to (no two readings of one blob).
//
//	go test ./kms -run '^$' -fuzz FuzzCiphertext -fuzztime 10s
func FuzzCiphertext(f *testing.F) {
	f.Add(ciphertext{keyID: uuid.NewString(), iv: bytes.Repeat([]byte{7}, ivSize), body: bytes.Repeat([]byte{9}, 40)}.marshal())
	f.Add(ciphertext{keyID: uuid.NewString(), iv: make([]byte, ivSize), body: make([]byte, tagSize)}.marshal())
	f.Add([]byte("KH"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, blob []byte) {
		ct, err := parseCiphertext(blob)
		if err != nil {
			return
		}
		if len(ct.iv) != ivSize || len(ct.body) < tagSize {
			t.Fatalf("accepted a blob with a %d-byte IV and a %d-byte body", len(ct.iv), len(ct.body))
		}
		if again := ct.marshal(); !bytes.Equal(again, blob) {
			t.Fatalf("blob %x reads as %+v, which marshals to %x", blob, ct, again)
		}
	})
}
