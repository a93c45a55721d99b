package awsjson

import (
	"encoding/base64"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxListedViolations caps how many breaches one message lists.
const maxListedViolations = 10

// decoder reads one request body against a plan, in one pass: it checks
// the JSON syntax, matches member names exactly as they are in the model
// (AWS matches them case-sensitively; members the model does not know are
// skipped), checks every value against its shape's constraints, and fills
// the Go value only with values it has checked.
type decoder struct {
	sc         scanner
	depth      int
	path       []pathSegment
	violations []string
	breaches   int // every breach, listed or not
}

// pathSegment is one step of the path AWS messages name a value by.
type pathSegment struct {
	kind  byte // 'm' member, 'e' list element, 'k' map key, 'v' map value
	name  string
	index int
}

// decodeBody decodes body as the input of an operation into out (a
// settable struct value, or the zero Value to validate only). A body that
// is not one JSON object, or a value of the wrong JSON type, gives a
// SerializationException; constraint breaches give one ValidationException
// that lists them.
func decodeBody(p *plan, body []byte, out reflect.Value) error {
	d := decoder{sc: scanner{data: body}}
	if d.sc.atEnd() {
		d.sc.data = emptyObject // an empty body means {}
		d.sc.pos = 0
	}
	if d.sc.skipSpace() != '{' {
		return serializationError("The request body must be a JSON object.")
	}
	if err := d.structure(p, out); err != nil {
		return err
	}
	if !d.sc.atEnd() {
		return serializationError("The request body has data after its JSON object.")
	}
	return d.validationError()
}

var emptyObject = []byte("{}")

func serializationError(msg string) *Error {
	return &Error{Type: "SerializationException", Status: 400, Message: msg}
}

// syntax turns a scanner error into the SerializationException it is.
func syntax(err error) error {
	if se, ok := err.(*syntaxError); ok {
		return serializationError("The request body is not valid JSON: " + se.Error() + ".")
	}
	return err
}

func (d *decoder) validationError() error {
	if d.breaches == 0 {
		return nil
	}
	noun := "error"
	if d.breaches > 1 {
		noun = "errors"
	}
	return &Error{Type: "ValidationException", Status: 400,
		Message: strconv.Itoa(d.breaches) + " validation " + noun + " detected: " + strings.Join(d.violations, "; ")}
}

// pathString renders the current path as AWS messages write it, for
// example "encryptionContext.purpose.value" or "grantTokens.1.member".
func (d *decoder) pathString() string {
	var b strings.Builder
	for i, s := range d.path {
		switch s.kind {
		case 'm':
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.name)
		case 'e':
			b.WriteByte('.')
			b.WriteString(strconv.Itoa(s.index + 1))
			b.WriteString(".member")
		case 'k':
			b.WriteString(".key")
		case 'v':
			b.WriteByte('.')
			b.WriteString(s.name)
			b.WriteString(".value")
		}
	}
	return b.String()
}

// violate records a constraint breach of the value at the current path;
// value is how the message shows it ("Value" alone for sensitive or
// non-scalar values).
func (d *decoder) violate(value, constraint string) {
	d.breaches++
	if len(d.violations) < maxListedViolations {
		d.violations = append(d.violations, value+" at '"+d.pathString()+"' failed to satisfy constraint: "+constraint)
	}
}

func quoted(s string) string { return "Value '" + s + "'" }

// value reads one value of plan p into v (the zero Value to keep nothing)
// and reports whether it was present, that is, not null.
func (d *decoder) value(p *plan, v reflect.Value) (bool, error) {
	c := d.sc.skipSpace()
	if c == 'n' {
		return false, syntax(d.sc.literal("null"))
	}
	target := v
	var ptr reflect.Value
	if p.ptr && v.IsValid() {
		ptr = reflect.New(p.typ)
		target = ptr.Elem()
	}
	var err error
	switch p.kind {
	case "structure":
		err = d.structure(p, target)
	case "list":
		err = d.list(p, target)
	case "map":
		err = d.mapValue(p, target)
	case "string":
		err = d.str(p, target)
	case "blob":
		err = d.blob(p, target)
	case "integer", "long":
		err = d.integer(p, target)
	case "boolean":
		err = d.boolean(p, target)
	case "timestamp":
		err = d.timestamp(target)
	case "float", "double":
		err = d.float(p, target)
	}
	if err != nil {
		return true, err
	}
	if ptr.IsValid() {
		v.Set(ptr)
	}
	return true, nil
}

// typeError is the SerializationException for a token of the wrong JSON
// type, in the wording of AWS's JSON front end.
func (d *decoder) typeError(p *plan) error {
	var found string
	switch c := d.sc.skipSpace(); {
	case c == '{':
		return serializationError("Start of structure or map found where not expected.")
	case c == '[':
		return serializationError("Start of list found where not expected.")
	case c == '"':
		found = "STRING_VALUE"
	case c == 't' || c == 'f':
		found = "BOOLEAN_VALUE"
	case c == '-' || (c >= '0' && c <= '9'):
		found = "NUMBER_VALUE"
	default:
		return syntax(d.sc.unexpected("a JSON value"))
	}
	return serializationError(found + " can not be converted to " + goName[p.kind] + ".")
}

var goName = map[string]string{
	"structure": "a Structure", "list": "a List", "map": "a Map", "string": "a String", "blob": "a Blob",
	"integer": "an Integer", "long": "a Long", "boolean": "a Boolean", "timestamp": "a Timestamp",
	"float": "a Float", "double": "a Double",
}

// open consumes the opening byte c of a structure, list or map of plan p,
// one level deeper, or answers the value of another type.
func (d *decoder) open(p *plan, c byte) error {
	if d.sc.skipSpace() != c {
		return d.typeError(p)
	}
	if d.depth++; d.depth > maxNesting {
		return serializationError("The request body nests more than " + strconv.Itoa(maxNesting) + " levels deep.")
	}
	d.sc.pos++
	return nil
}

// memberSet remembers which members of a structure were seen.
type memberSet struct {
	small uint64
	large []bool
}

func newMemberSet(n int) memberSet {
	if n > 64 {
		return memberSet{large: make([]bool, n)}
	}
	return memberSet{}
}

func (s *memberSet) has(i int) bool {
	if s.large != nil {
		return s.large[i]
	}
	return s.small&(1<<uint(i)) != 0
}

func (s *memberSet) add(i int) {
	if s.large != nil {
		s.large[i] = true
		return
	}
	s.small |= 1 << uint(i)
}

func (d *decoder) structure(p *plan, v reflect.Value) error {
	if err := d.open(p, '{'); err != nil {
		return err
	}
	seen, present := newMemberSet(p.count), newMemberSet(p.count)
	for first := true; ; first = false {
		more, err := d.sc.objectNext(first)
		if err != nil {
			return syntax(err)
		}
		if !more {
			break
		}
		name, err := d.sc.name()
		if err != nil {
			return syntax(err)
		}
		mp := p.members[string(name)]
		if mp == nil {
			// AWS ignores members it does not know (clients built from a
			// newer model send them), but they must still be JSON.
			if err := d.sc.skip(d.depth); err != nil {
				return syntax(err)
			}
			continue
		}
		if seen.has(mp.index) {
			return serializationError("The request body has the member '" + mp.name + "' more than once.")
		}
		seen.add(mp.index)
		var field reflect.Value
		if v.IsValid() && mp.field != nil {
			field = v.FieldByIndex(mp.field)
		}
		d.path = append(d.path, pathSegment{kind: 'm', name: mp.path})
		ok, err := d.value(mp.plan, field)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return err
		}
		if ok {
			present.add(mp.index)
		}
	}
	for _, r := range p.required {
		if !present.has(r.index) {
			d.path = append(d.path, pathSegment{kind: 'm', name: r.path})
			d.violate("Value null", "Member must not be null")
			d.path = d.path[:len(d.path)-1]
		}
	}
	d.depth--
	return nil
}

func (d *decoder) list(p *plan, v reflect.Value) error {
	if err := d.open(p, '['); err != nil {
		return err
	}
	var out reflect.Value
	if v.IsValid() {
		out = reflect.MakeSlice(p.typ, 0, 4)
	}
	n := 0
	for first := true; ; first = false {
		more, err := d.sc.arrayNext(first)
		if err != nil {
			return syntax(err)
		}
		if !more {
			break
		}
		var elem reflect.Value
		if out.IsValid() {
			out = reflect.Append(out, reflect.Zero(p.typ.Elem()))
			elem = out.Index(n)
		}
		d.path = append(d.path, pathSegment{kind: 'e', index: n})
		ok, err := d.value(p.elem, elem)
		if err == nil && !ok {
			d.violate("Value null", "Member must not be null")
		}
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return err
		}
		n++
	}
	d.length(p, "Value", n)
	if v.IsValid() {
		v.Set(out)
	}
	d.depth--
	return nil
}

func (d *decoder) mapValue(p *plan, v reflect.Value) error {
	if err := d.open(p, '{'); err != nil {
		return err
	}
	var out reflect.Value
	var keys map[string]struct{} // the keys seen, when there is no map to ask
	if v.IsValid() {
		out = reflect.MakeMap(p.typ)
	} else {
		keys = map[string]struct{}{}
	}
	count := 0
	for first := true; ; first = false {
		more, err := d.sc.objectNext(first)
		if err != nil {
			return syntax(err)
		}
		if !more {
			break
		}
		raw, err := d.sc.name()
		if err != nil {
			return syntax(err)
		}
		key := string(raw)
		var keyValue reflect.Value
		dup := false
		if out.IsValid() {
			keyValue = reflect.ValueOf(key).Convert(p.typ.Key())
			dup = out.MapIndex(keyValue).IsValid()
		} else {
			_, dup = keys[key]
			keys[key] = struct{}{}
		}
		if dup {
			return serializationError("The request body has the key '" + key + "' more than once in one map.")
		}
		count++
		d.path = append(d.path, pathSegment{kind: 'k'})
		d.checkString(p.key, key)
		d.path[len(d.path)-1] = pathSegment{kind: 'v', name: key}
		var elem reflect.Value
		if out.IsValid() {
			elem = reflect.New(p.typ.Elem()).Elem()
		}
		ok, err := d.value(p.elem, elem)
		if err == nil && !ok {
			d.violate("Value null", "Member must not be null")
		}
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return err
		}
		if out.IsValid() {
			out.SetMapIndex(keyValue, elem)
		}
	}
	d.length(p, "Value", count)
	if v.IsValid() {
		v.Set(out)
	}
	d.depth--
	return nil
}

func (d *decoder) str(p *plan, v reflect.Value) error {
	if d.sc.skipSpace() != '"' {
		return d.typeError(p)
	}
	raw, err := d.sc.str()
	if err != nil {
		return syntax(err)
	}
	s := string(raw)
	d.checkString(p, s)
	if v.IsValid() {
		v.SetString(s)
	}
	return nil
}

// checkString checks a string against its shape: length (counted in UTF-16
// code units, as AWS counts), pattern and enum.
func (d *decoder) checkString(p *plan, s string) {
	shown := "Value"
	if !p.shape.Sensitive {
		shown = quoted(s)
	}
	d.length(p, shown, utf16Len(s))
	if p.shape.Pattern != nil && !p.shape.Pattern.MatchString(s) {
		d.violate(shown, "Member must satisfy regular expression pattern: "+p.shape.PatternS)
	}
	if p.enum != nil {
		if _, ok := p.enum[s]; !ok {
			d.violate(shown, "Member must satisfy enum value set: ["+strings.Join(p.shape.Enum, ", ")+"]")
		}
	}
}

func utf16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r > 0xffff {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// length checks a length (of a string, blob, list or map) against the
// shape's min and max.
func (d *decoder) length(p *plan, shown string, n int) {
	s := p.shape
	if s.Min != nil && float64(n) < *s.Min {
		d.violate(shown, "Member must have length greater than or equal to "+formatBound(*s.Min))
	}
	if s.Max != nil && float64(n) > *s.Max {
		d.violate(shown, "Member must have length less than or equal to "+formatBound(*s.Max))
	}
}

func formatBound(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (d *decoder) blob(p *plan, v reflect.Value) error {
	if d.sc.skipSpace() != '"' {
		return d.typeError(p)
	}
	raw, err := d.sc.str()
	if err != nil {
		return syntax(err)
	}
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Decode(buf, raw)
	if err != nil {
		return serializationError("Base64 encoded value at '" + d.pathString() + "' could not be decoded.")
	}
	// A blob's value is never shown: it is often a secret.
	d.length(p, "Value", n)
	if v.IsValid() {
		v.SetBytes(buf[:n])
	}
	return nil
}

func (d *decoder) integer(p *plan, v reflect.Value) error {
	if c := d.sc.skipSpace(); c != '-' && (c < '0' || c > '9') {
		return d.typeError(p)
	}
	text, integral, err := d.sc.number()
	if err != nil {
		return syntax(err)
	}
	n, ok := parseInteger(text, integral)
	if !ok || (p.kind == "integer" && (n < math.MinInt32 || n > math.MaxInt32)) {
		return serializationError("NUMBER_VALUE " + string(text) + " can not be converted to " + goName[p.kind] + ".")
	}
	shown := quoted(strconv.FormatInt(n, 10))
	if p.shape.Sensitive {
		shown = "Value"
	}
	if s := p.shape; s.Min != nil && float64(n) < *s.Min {
		d.violate(shown, "Member must have value greater than or equal to "+formatBound(*s.Min))
	}
	if s := p.shape; s.Max != nil && float64(n) > *s.Max {
		d.violate(shown, "Member must have value less than or equal to "+formatBound(*s.Max))
	}
	if v.IsValid() {
		v.SetInt(n)
	}
	return nil
}

// parseInteger reads a JSON number that must be a whole number in int64
// range (1.0 and 1e3 are whole numbers; 1.5 is not).
func parseInteger(text []byte, integral bool) (int64, bool) {
	if integral {
		neg := text[0] == '-'
		digits := text
		limit := uint64(math.MaxInt64)
		if neg {
			digits, limit = text[1:], limit+1
		}
		var n uint64
		for _, c := range digits {
			d := uint64(c - '0')
			if n > (limit-d)/10 {
				return 0, false
			}
			n = n*10 + d
		}
		if neg {
			return -int64(n), true // n = 2^63 wraps to MinInt64, as it should
		}
		return int64(n), true
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

func (d *decoder) boolean(p *plan, v reflect.Value) error {
	var b bool
	switch d.sc.skipSpace() {
	case 't':
		b = true
		if err := d.sc.literal("true"); err != nil {
			return syntax(err)
		}
	case 'f':
		if err := d.sc.literal("false"); err != nil {
			return syntax(err)
		}
	default:
		return d.typeError(p)
	}
	if v.IsValid() {
		v.SetBool(b)
	}
	return nil
}

// timestamp reads epoch seconds (fractions and exponents allowed).
func (d *decoder) timestamp(v reflect.Value) error {
	f, err := d.number(&plan{kind: "timestamp"})
	if err != nil {
		return err
	}
	if math.Abs(f) > 1e12 {
		return serializationError("NUMBER_VALUE can not be converted to a Timestamp.")
	}
	if v.IsValid() {
		v.Set(reflect.ValueOf(time.UnixMilli(int64(math.Round(f * 1000)))))
	}
	return nil
}

func (d *decoder) float(p *plan, v reflect.Value) error {
	f, err := d.number(p)
	if err != nil {
		return err
	}
	if v.IsValid() {
		v.SetFloat(f)
	}
	return nil
}

func (d *decoder) number(p *plan) (float64, error) {
	if c := d.sc.skipSpace(); c != '-' && (c < '0' || c > '9') {
		return 0, d.typeError(p)
	}
	text, _, err := d.sc.number()
	if err != nil {
		return 0, syntax(err)
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return 0, serializationError("NUMBER_VALUE " + string(text) + " can not be converted to " + goName[p.kind] + ".")
	}
	return f, nil
}
