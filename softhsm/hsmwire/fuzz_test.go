package hsmwire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"testing"
)

func sameRequest(a, b *Request) bool {
	return a.ID == b.ID && a.Op == b.Op && a.Exclusive == b.Exclusive && a.User == b.User && a.Password == b.Password &&
		a.NewPassword == b.NewPassword && a.Role == b.Role && a.KeyID == b.KeyID && a.Label == b.Label &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.AAD, b.AAD) && bytes.Equal(a.IV, b.IV) && a.Count == b.Count
}

// FuzzDecodeRequest feeds arbitrary frame bodies to the node's request
// decoder: it never panics, it always returns a request (the node answers
// a malformed one by its ID), and what it accepts encodes back to a body
// that decodes to the same request.
//
//	go test ./softhsm/hsmwire -run '^$' -fuzz FuzzDecodeRequest -fuzztime 10s
func FuzzDecodeRequest(f *testing.F) {
	f.Add(AppendRequest(nil, &Request{ID: 1, Op: OpLogin, User: "kmsuser", Password: "pw", Exclusive: true}))
	f.Add(AppendRequest(nil, &Request{ID: 7, Op: OpEncrypt, KeyID: "k", Data: []byte("plaintext"), AAD: []byte("aad")}))
	f.Add(AppendRequest(nil, &Request{ID: 1<<32 - 1, Op: OpGenerateRandom, Count: 1024}))
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body)
		if r == nil {
			t.Fatal("DecodeRequest returned no request")
		}
		if err != nil {
			return
		}
		again, err := DecodeRequest(AppendRequest(nil, r))
		if err != nil || !sameRequest(r, again) {
			t.Fatalf("%+v does not survive encoding: %+v, %v", r, again, err)
		}
	})
}

// FuzzDecodeResponse is FuzzDecodeRequest for the client's side.
//
//	go test ./softhsm/hsmwire -run '^$' -fuzz FuzzDecodeResponse -fuzztime 10s
func FuzzDecodeResponse(f *testing.F) {
	f.Add(AppendResponse(nil, &Response{ID: 1, Status: StatusOK, Data: []byte("ciphertext"), IV: make([]byte, 12)}))
	f.Add(AppendResponse(nil, &Response{ID: 2, Status: StatusBadRequest, Message: "malformed"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponse(body)
		if err != nil {
			return
		}
		again, err := DecodeResponse(AppendResponse(nil, r))
		if err != nil || again.ID != r.ID || again.Status != r.Status || again.Message != r.Message || again.KeyID != r.KeyID ||
			!bytes.Equal(again.Data, r.Data) || !bytes.Equal(again.IV, r.IV) {
			t.Fatalf("%+v does not survive encoding: %+v, %v", r, again, err)
		}
	})
}

// lengthPrefix returns the 4-byte prefix of a frame of body.
func lengthPrefix(body []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(len(body)))
}

// FuzzReadFrame reads frames from an arbitrary stream, as a node reads a
// connection: it never panics, never returns a frame larger than
// MaxFrame, and returns only bytes the stream holds, in order.
//
//	go test ./softhsm/hsmwire -run '^$' -fuzz FuzzReadFrame -fuzztime 10s
func FuzzReadFrame(f *testing.F) {
	f.Add(append(lengthPrefix([]byte("hello")), []byte("hello")...))
	f.Add(append(append(lengthPrefix([]byte("a")), 'a'), append(lengthPrefix(nil), lengthPrefix([]byte("bc"))...)...))
	f.Add([]byte{0x04, 0x00, 0x00, 0x00, 1, 2, 3}) // 64 MiB announced, 3 bytes sent
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bufio.NewReader(bytes.NewReader(stream))
		rest := stream
		for {
			body, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(body) > MaxFrame || len(rest) < 4+len(body) || !bytes.Equal(rest[4:4+len(body)], body) {
				t.Fatalf("frame of %d bytes is not the stream's next frame", len(body))
			}
			rest = rest[4+len(body):]
		}
	})
}

// TestReadFrameAllocatesWhatArrives: a peer that announces a 64 MiB frame
// and sends three bytes of it must not make the node allocate 64 MiB (a
// thousand such connections would take 64 GiB).
func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	stream := append(binary.BigEndian.AppendUint32(nil, MaxFrame), 1, 2, 3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(bufio.NewReader(bytes.NewReader(stream)))
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("ReadFrame: %v, want io.ErrUnexpectedEOF", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("reading 3 bytes of an announced 64 MiB frame allocated %d bytes", grew)
	}
}
