package kms

import (
	"fmt"
	"testing"
)

// BenchmarkKeyListAnswer encodes a ListKeys page of 1,000 keys, the size
// ListKeys allows at most.
//
//	go test ./kms -run '^$' -bench KeyListAnswer -benchmem
func BenchmarkKeyListAnswer(b *testing.B) {
	keys := make([]keyListEntry, 1000)
	for i := range keys {
		id := fmt.Sprintf("%08x-1234-4abc-8def-%012x", i, i)
		keys[i] = keyListEntry{KeyID: id, KeyArn: "arn:aws:kms:us-east-1:111122223333:key/" + id}
	}
	a := keyListAnswer{keys: keys, next: "bWFya2Vy"}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = a.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
