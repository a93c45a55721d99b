package kms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sort"
)

// markers make and check pagination markers. A marker names the listing it
// belongs to and the sequence number of the last item returned, signed with
// the service secret, so a forged, altered or foreign marker is refused with
// InvalidMarkerException. Listings are in sequence (creation) order, so a
// page after a marker is stable while items are added concurrently: new
// items have higher numbers and appear on later pages.
type markers struct{ secret []byte }

func (m markers) make(listing string, lastSeq uint64) string {
	payload := binary.BigEndian.AppendUint64([]byte(listing+":"), lastSeq)
	mac := hmac.New(sha256.New, m.secret)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(append(payload, mac.Sum(nil)[:16]...))
}

// parse returns the sequence number a marker carries.
func (m markers) parse(listing, marker string) (uint64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(marker)
	prefix := listing + ":"
	// A marker has one spelling: the decoder also accepts line breaks and
	// set unused bits, which would let a changed marker through.
	if err != nil || base64.RawURLEncoding.EncodeToString(raw) != marker || len(raw) != len(prefix)+8+16 || string(raw[:len(prefix)]) != prefix {
		return 0, kmsError("InvalidMarkerException", "The marker is not valid for this request.")
	}
	payload, tag := raw[:len(prefix)+8], raw[len(prefix)+8:]
	mac := hmac.New(sha256.New, m.secret)
	mac.Write(payload)
	if !hmac.Equal(tag, mac.Sum(nil)[:16]) {
		return 0, kmsError("InvalidMarkerException", "The marker is not valid for this request.")
	}
	return binary.BigEndian.Uint64(payload[len(prefix):]), nil
}

// page returns up to limit items (sorted by seq) after the marker, and the
// marker of the next page ("" when there is none). The model bounds limit
// (1 to 1000); page bounds it too, so that no limit can make it fail.
func page[T any](m markers, listing string, items []T, seq func(T) uint64, marker string, limit int) ([]T, string, error) {
	start := 0
	if marker != "" {
		after, err := m.parse(listing, marker)
		if err != nil {
			return nil, "", err
		}
		start = sort.Search(len(items), func(i int) bool { return seq(items[i]) > after })
	}
	end := start + min(max(limit, 1), len(items)-start)
	out := items[start:end]
	next := ""
	if end < len(items) {
		next = m.make(listing, seq(items[end-1]))
	}
	return out, next, nil
}
