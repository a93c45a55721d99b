package awsjson

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNesting bounds how deeply arrays and objects may nest anywhere in a
// body, members the model does not know included.
const maxNesting = 256

// scanner reads one JSON text from a byte slice, token by token. It accepts
// exactly RFC 8259 JSON: no comments, no trailing commas, no invalid UTF-8,
// no unpaired UTF-16 surrogates in escapes, no control characters in
// strings. Every error it reports is a *syntaxError.
type scanner struct {
	data []byte
	pos  int
	buf  []byte // scratch space for unescaped strings
}

// syntaxError says where a body stops being JSON.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.offset) }

func (s *scanner) fail(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), offset: s.pos}
}

// skipSpace moves past JSON whitespace and returns the next byte (0 at the
// end of the input).
func (s *scanner) skipSpace() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

// atEnd reports whether only whitespace is left.
func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.pos == len(s.data)
}

// expect consumes the byte c after optional whitespace.
func (s *scanner) expect(c byte) error {
	if s.skipSpace() != c || s.pos == len(s.data) {
		return s.unexpected(fmt.Sprintf("'%c'", c))
	}
	s.pos++
	return nil
}

func (s *scanner) unexpected(want string) error {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of input, expected %s", want)
	}
	return s.fail("unexpected character %q, expected %s", s.data[s.pos], want)
}

// objectNext is called after '{' or after a member's value: it consumes a
// ',' or the closing '}' and reports whether another member follows. first
// says whether no member has been read yet.
func (s *scanner) objectNext(first bool) (bool, error) {
	c := s.skipSpace()
	if c == '}' {
		s.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.unexpected("',' or '}'")
		}
		s.pos++
		s.skipSpace()
	}
	return true, nil
}

// arrayNext is objectNext for arrays.
func (s *scanner) arrayNext(first bool) (bool, error) {
	c := s.skipSpace()
	if c == ']' {
		s.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, s.unexpected("',' or ']'")
		}
		s.pos++
		s.skipSpace()
	}
	return true, nil
}

// name reads an object member name and the ':' after it. The returned
// slice is only valid until the next string is read.
func (s *scanner) name() ([]byte, error) {
	if s.skipSpace() != '"' || s.pos == len(s.data) {
		return nil, s.unexpected("a member name")
	}
	n, err := s.str()
	if err != nil {
		return nil, err
	}
	return n, s.expect(':')
}

// str reads a string token (the scanner is at its opening quote) and
// returns its content, unescaped. The slice aliases either the input or
// the scanner's scratch buffer, so it is only valid until the next call.
func (s *scanner) str() ([]byte, error) {
	s.pos++ // the opening quote
	start := s.pos
	// Fast path: the closing quote, with no escape, control character or
	// non-ASCII byte before it (every blob, most strings).
	if q := bytes.IndexByte(s.data[start:], '"'); q >= 0 && plainASCII(s.data[start:start+q]) {
		s.pos = start + q + 1
		return s.data[start : start+q], nil
	}
	ascii := true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw := s.data[start:s.pos]
			s.pos++
			if !ascii && !utf8.Valid(raw) {
				return nil, &syntaxError{msg: "invalid UTF-8 in a string", offset: start}
			}
			return raw, nil
		case c == '\\':
			return s.escapedStr(start)
		case c < 0x20:
			return nil, s.fail("control character in a string")
		case c >= 0x80:
			ascii = false
		}
		s.pos++
	}
	return nil, s.fail("unexpected end of input in a string")
}

// escapedStr finishes a string that contains escapes, copying it into the
// scratch buffer.
func (s *scanner) escapedStr(start int) ([]byte, error) {
	out := append(s.buf[:0], s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			s.buf = out
			if !utf8.Valid(out) {
				return nil, &syntaxError{msg: "invalid UTF-8 in a string", offset: start}
			}
			return out, nil
		case c < 0x20:
			return nil, s.fail("control character in a string")
		case c != '\\':
			out = append(out, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.data) {
			return nil, s.fail("unexpected end of input in a string")
		}
		e := s.data[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || s.pos+1 >= len(s.data) || s.data[s.pos] != '\\' || s.data[s.pos+1] != 'u' {
					return nil, s.fail("unpaired UTF-16 surrogate in a string")
				}
				s.pos += 2
				low, err := s.hex4()
				if err != nil {
					return nil, err
				}
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return nil, s.fail("unpaired UTF-16 surrogate in a string")
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.fail("invalid escape '\\%c' in a string", e)
		}
	}
	return nil, s.fail("unexpected end of input in a string")
}

func (s *scanner) hex4() (rune, error) {
	if s.pos+4 > len(s.data) {
		return 0, s.fail("unexpected end of input in a \\u escape")
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, s.fail("invalid \\u escape in a string")
		}
	}
	s.pos += 4
	return r, nil
}

// number reads a number token and returns its text and whether it has a
// fraction or an exponent.
func (s *scanner) number() (text []byte, integral bool, err error) {
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.pos < len(s.data) && s.data[s.pos] >= '1' && s.data[s.pos] <= '9':
		s.digits()
	default:
		return nil, false, s.unexpected("a digit")
	}
	integral = true
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return nil, false, s.unexpected("a digit")
		}
		integral = false
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return nil, false, s.unexpected("a digit")
		}
		integral = false
	}
	return s.data[start:s.pos], integral, nil
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

// literal consumes the literal word (true, false or null).
func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.unexpected("a JSON value")
	}
	s.pos += len(word)
	return nil
}

// skip reads one value of any kind without keeping it, checking its syntax.
// It does not recurse: depth counts the open arrays and objects.
func (s *scanner) skip(depth int) error {
	var stack [maxNesting]byte // the kind of each open container: '{' or '['
	open := 0
	for {
		c := s.skipSpace()
		switch {
		case c == '{' || c == '[':
			if depth+open >= maxNesting {
				return s.fail("JSON nested more than %d levels deep", maxNesting)
			}
			s.pos++
			stack[open] = c
			open++
			var more bool
			var err error
			if c == '{' {
				more, err = s.objectNext(true)
			} else {
				more, err = s.arrayNext(true)
			}
			if err != nil {
				return err
			}
			if more {
				if c == '{' {
					if _, err := s.name(); err != nil {
						return err
					}
				}
				continue
			}
			open--
		case c == '"':
			if _, err := s.str(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if _, _, err := s.number(); err != nil {
				return err
			}
		case c == 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		default:
			return s.unexpected("a JSON value")
		}
		// A value is complete: close every container that ends here.
		for open > 0 {
			var more bool
			var err error
			if stack[open-1] == '{' {
				more, err = s.objectNext(false)
			} else {
				more, err = s.arrayNext(false)
			}
			if err != nil {
				return err
			}
			if more {
				if stack[open-1] == '{' {
					if _, err := s.name(); err != nil {
						return err
					}
				}
				break
			}
			open--
		}
		if open == 0 {
			return nil
		}
	}
}

// plainASCII reports whether b holds only printable ASCII without a
// backslash, eight bytes at a time.
func plainASCII(b []byte) bool {
	const ones, highs, spaces = 0x0101010101010101, 0x8080808080808080, 0x2020202020202020
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		// A byte >= 0x80, or < 0x20 (w - 0x20 borrows into its high bit).
		if (w|(w-spaces))&highs != 0 {
			return false
		}
		// A backslash: a zero byte in w XOR 0x5c repeated.
		if x := w ^ (ones * '\\'); (x-ones)&^x&highs != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}
