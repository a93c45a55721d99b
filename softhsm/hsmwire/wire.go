// Package hsmwire is the protocol between HSM node clients and the hsmnode
// daemon: length-prefixed binary frames carried over TLS. A connection is one
// HSM session: the user it logged in as applies to every later request on it.
// Requests carry an ID; responses may come back in any order and name the
// request they answer, so one connection carries many calls at once.
package hsmwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// MaxFrame is the largest frame either side accepts (backups can be large).
const MaxFrame = 64 << 20

// Op names a request.
type Op uint8

// The operations a node serves.
const (
	OpLogin Op = iota + 1
	OpLogout
	OpChangePassword
	OpCreateUser
	OpDeleteUser
	OpListUsers
	OpGenerateKey
	OpDeleteKey
	OpListKeys
	OpEncrypt
	OpDecrypt
	OpGenerateRandom
	OpExportKey
	OpImportKey
	OpBackup
	OpRestore
	OpInfo
	opEnd
)

var opNames = map[Op]string{
	OpLogin: "Login", OpLogout: "Logout", OpChangePassword: "ChangePassword", OpCreateUser: "CreateUser",
	OpDeleteUser: "DeleteUser", OpListUsers: "ListUsers", OpGenerateKey: "GenerateKey", OpDeleteKey: "DeleteKey",
	OpListKeys: "ListKeys", OpEncrypt: "Encrypt", OpDecrypt: "Decrypt", OpGenerateRandom: "GenerateRandom",
	OpExportKey: "ExportKey", OpImportKey: "ImportKey", OpBackup: "Backup", OpRestore: "Restore", OpInfo: "Info",
}

// String returns the operation's name.
func (o Op) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Valid reports whether o is a known operation.
func (o Op) Valid() bool { return o >= OpLogin && o < opEnd }

// Request is one call to a node. Which fields matter depends on Op.
type Request struct {
	ID          uint32
	Op          Op
	User        string
	Password    string
	NewPassword string
	Role        string
	KeyID       string
	Label       string
	Data        []byte
	AAD         []byte
	IV          []byte
	Count       uint32
	// Exclusive asks Login to fail with StatusUserLoggedIn when the user is
	// already logged in on another connection (what KMS needs).
	Exclusive bool
}

// Response answers the request with the same ID.
type Response struct {
	ID      uint32
	Status  Status
	Message string
	KeyID   string
	Data    []byte
	IV      []byte
}

// encoder appends fields to a frame body.
type encoder struct{ buf []byte }

func (e *encoder) bytes(b []byte) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(b)))
	e.buf = append(e.buf, b...)
}
func (e *encoder) string(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}
func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

// decoder reads fields from a frame body, remembering the first error.
type decoder struct {
	buf []byte
	err error
}

var errMalformed = errors.New("malformed frame")

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.err = errMalformed
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}
func (d *decoder) string() string { return string(d.bytes()) }
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errMalformed
		return 0
	}
	d.buf = d.buf[n:]
	return v
}
func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.err = errMalformed
	}
	return uint32(v)
}
func (d *decoder) done() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = errMalformed
	}
	return d.err
}

// AppendRequest appends r's encoding (without the length prefix).
func AppendRequest(buf []byte, r *Request) []byte {
	e := encoder{buf: buf}
	e.uvarint(uint64(r.ID))
	e.uvarint(uint64(r.Op))
	flags := uint64(0)
	if r.Exclusive {
		flags |= 1
	}
	e.uvarint(flags)
	e.string(r.User)
	e.string(r.Password)
	e.string(r.NewPassword)
	e.string(r.Role)
	e.string(r.KeyID)
	e.string(r.Label)
	e.bytes(r.Data)
	e.bytes(r.AAD)
	e.bytes(r.IV)
	e.uvarint(uint64(r.Count))
	return e.buf
}

// DecodeRequest parses a request body. A malformed body gives an error that
// still carries the request ID when it could be read, so it can be answered.
func DecodeRequest(body []byte) (*Request, error) {
	d := decoder{buf: body}
	r := &Request{ID: d.u32()}
	op := d.uvarint()
	if op > 255 {
		d.err = errMalformed
	}
	r.Op = Op(op)
	flags := d.uvarint()
	r.Exclusive = flags&1 != 0
	r.User, r.Password, r.NewPassword, r.Role = d.string(), d.string(), d.string(), d.string()
	r.KeyID, r.Label = d.string(), d.string()
	r.Data, r.AAD, r.IV = d.bytes(), d.bytes(), d.bytes()
	r.Count = d.u32()
	if err := d.done(); err != nil {
		return r, fmt.Errorf("request: %w", err)
	}
	return r, nil
}

// AppendResponse appends r's encoding (without the length prefix).
func AppendResponse(buf []byte, r *Response) []byte {
	e := encoder{buf: buf}
	e.uvarint(uint64(r.ID))
	e.uvarint(uint64(r.Status))
	e.string(r.Message)
	e.string(r.KeyID)
	e.bytes(r.Data)
	e.bytes(r.IV)
	return e.buf
}

// DecodeResponse parses a response body.
func DecodeResponse(body []byte) (*Response, error) {
	d := decoder{buf: body}
	r := &Response{ID: d.u32()}
	st := d.uvarint()
	if st > 255 {
		d.err = errMalformed
	}
	r.Status = Status(st)
	r.Message, r.KeyID = d.string(), d.string()
	r.Data, r.IV = d.bytes(), d.bytes()
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	return r, nil
}

// WriteFrame writes body with its 4-byte big-endian length prefix.
func WriteFrame(w *bufio.Writer, body []byte) error {
	if len(body) > MaxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(body), MaxFrame)
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// frameChunk is how much of a frame ReadFrame reserves before its bytes
// arrive: a peer that announces a large frame and sends little of it costs
// little memory.
const frameChunk = 64 << 10

// ReadFrame reads one length-prefixed frame body. The memory it takes
// grows with the bytes that arrive, not with the size announced.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint32(n[:]))
	if size > MaxFrame {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d: %w", size, MaxFrame, errMalformed)
	}
	body := make([]byte, min(size, frameChunk))
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	for len(body) < size {
		have := len(body)
		body = slices.Grow(body, min(size-have, have))
		body = body[:min(size, cap(body))]
		if _, err := io.ReadFull(r, body[have:]); err != nil {
			return nil, err
		}
	}
	return body, nil
}
