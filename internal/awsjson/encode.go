package awsjson

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"
)

// Answer is an operation's output that encodes itself: AppendJSON appends
// the JSON object to buf and returns the extended buffer. An operation on
// the hot path returns one instead of a value for encoding/json, so that
// its answer costs no reflection and no intermediate map; the bytes must be
// what json.Marshal of the equivalent value would give (Object makes that
// easy).
type Answer interface {
	AppendJSON(buf []byte) []byte
}

// Object appends a JSON object to a buffer, member by member, encoding each
// value exactly as encoding/json does. The zero Object is ready; Bytes
// closes the object.
type Object struct {
	buf     []byte
	members int
}

// NewObject starts an object at the end of buf.
func NewObject(buf []byte) Object { return Object{buf: buf} }

func (o *Object) name(name string) {
	if o.members == 0 {
		o.buf = append(o.buf, '{')
	} else {
		o.buf = append(o.buf, ',')
	}
	o.members++
	o.buf = AppendString(o.buf, name)
	o.buf = append(o.buf, ':')
}

// String adds a string member.
func (o *Object) String(name, v string) {
	o.name(name)
	o.buf = AppendString(o.buf, v)
}

// Blob adds a blob member: standard base64 in a string, as the AWS JSON
// protocols (and encoding/json for a []byte) write it; a nil blob is null.
func (o *Object) Blob(name string, b []byte) {
	o.name(name)
	if b == nil {
		o.buf = append(o.buf, "null"...)
		return
	}
	o.buf = append(o.buf, '"')
	o.buf = base64.StdEncoding.AppendEncode(o.buf, b)
	o.buf = append(o.buf, '"')
}

// Bool adds a boolean member.
func (o *Object) Bool(name string, v bool) {
	o.name(name)
	o.buf = strconv.AppendBool(o.buf, v)
}

// Raw adds a member whose value is already JSON, appended by add.
func (o *Object) Raw(name string, add func(buf []byte) []byte) {
	o.name(name)
	o.buf = add(o.buf)
}

// Bytes closes the object and returns the buffer.
func (o *Object) Bytes() []byte {
	if o.members == 0 {
		return append(o.buf, "{}"...)
	}
	return append(o.buf, '}')
}

// AppendString appends s as a JSON string, byte for byte as encoding/json
// writes it (HTML-safe escapes, invalid UTF-8 replaced). Names, IDs and
// ARNs are printable ASCII and take the fast path.
func AppendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// buffers recycles the buffers that request bodies are read into and
// answers encoded into: on the hot path each would otherwise be a few
// kilobytes of garbage per request.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// putBuffer recycles a buffer, unless it grew larger than a page of 1,000
// listed keys (a rare big body or answer would otherwise stay in memory).
func putBuffer(b *[]byte) {
	if cap(*b) <= 256<<10 {
		buffers.Put(b)
	}
}
