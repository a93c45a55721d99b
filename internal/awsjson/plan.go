package awsjson

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// plan is how one model shape is read into one Go type: compiled once per
// operation (see compile), used for every request. A plan without a Go
// type checks the value against the shape and keeps nothing.
type plan struct {
	shape *Shape
	kind  string       // the shape's type: structure, list, map, string, blob, integer, long, boolean, timestamp, float, double
	typ   reflect.Type // the Go type filled (the pointee when ptr); nil: validate only
	ptr   bool         // the Go value is a pointer to typ

	// structure
	members  map[string]*memberPlan
	required []*memberPlan
	count    int // members, for the duplicate check

	// list (elem) and map (key, elem)
	elem *plan
	key  *plan

	// string
	enum map[string]struct{}
}

// memberPlan is one member of a structure plan.
type memberPlan struct {
	name  string // the member name, exactly as on the wire
	path  string // the name as AWS messages write it (lowerCamelCase)
	index int    // position among the structure's members
	field []int  // the Go struct field filled; nil when none is
	plan  *plan
}

// compileShape builds the plan of shape name for Go type t (nil for
// validation only), checking that t can hold what the shape allows.
func (m *Model) compileShape(name string, t reflect.Type, where string) (*plan, error) {
	if strings.Count(where, ".") > maxShapeDepth {
		return nil, fmt.Errorf("%s: shapes nest more than %d levels deep", where, maxShapeDepth)
	}
	s := m.Shapes[name]
	if s == nil {
		return nil, fmt.Errorf("%s: shape %s is not in the model", where, name)
	}
	p := &plan{shape: s, kind: s.Type}
	if t != nil {
		if t.Kind() == reflect.Pointer && t != bytesType {
			p.ptr, t = true, t.Elem()
		}
		p.typ = t
		if !goTypeFits(s.Type, t) {
			return nil, fmt.Errorf("%s: Go type %s cannot hold the %s shape %s", where, t, s.Type, name)
		}
	}
	switch s.Type {
	case "structure":
		return p, m.compileStructure(p, where)
	case "list":
		var elem reflect.Type
		if t != nil {
			elem = t.Elem()
		}
		var err error
		p.elem, err = m.compileShape(s.Member, elem, where+"[]")
		return p, err
	case "map":
		var key, elem reflect.Type
		if t != nil {
			key, elem = t.Key(), t.Elem()
		}
		var err error
		if p.key, err = m.compileShape(s.Key, key, where+".key"); err != nil {
			return nil, err
		}
		if p.key.kind != "string" {
			return nil, fmt.Errorf("%s: map keys of shape %s are not strings", where, name)
		}
		p.elem, err = m.compileShape(s.Value, elem, where+".value")
		return p, err
	case "string":
		if len(s.Enum) > 0 {
			p.enum = make(map[string]struct{}, len(s.Enum))
			for _, e := range s.Enum {
				p.enum[e] = struct{}{}
			}
		}
	case "blob", "integer", "long", "boolean", "timestamp", "float", "double":
	default:
		return nil, fmt.Errorf("%s: shape %s has type %q, which this decoder does not read", where, name, s.Type)
	}
	return p, nil
}

// compileStructure fills a structure plan: every model member is read (and
// validated); those with a Go field of the same name are kept there. A Go
// field that names no member is an error, so that no field can be filled
// by anything but a validated member.
func (m *Model) compileStructure(p *plan, where string) error {
	s := p.shape
	names := make([]string, 0, len(s.Members))
	for n := range s.Members {
		names = append(names, n)
	}
	slices.Sort(names)
	p.members = make(map[string]*memberPlan, len(names))
	fields := map[string][]int{}
	if p.typ != nil {
		for i := range p.typ.NumField() {
			f := p.typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, ok := f.Tag.Lookup("json"); ok {
				tagName, _, _ := strings.Cut(tag, ",")
				if tagName == "-" {
					continue
				}
				if tagName != "" {
					name = tagName
				}
			}
			if _, ok := s.Members[name]; !ok {
				return fmt.Errorf("%s: Go field %s.%s names no member of shape %s", where, p.typ, f.Name, s.Name)
			}
			fields[name] = f.Index
		}
	}
	for i, n := range names {
		mp := &memberPlan{name: n, path: lowerFirst(n), index: i, field: fields[n]}
		var ft reflect.Type
		if mp.field != nil {
			ft = p.typ.FieldByIndex(mp.field).Type
		}
		var err error
		if mp.plan, err = m.compileShape(s.Members[n], ft, where+"."+n); err != nil {
			return err
		}
		p.members[n] = mp
	}
	p.count = len(names)
	for _, r := range s.Required {
		mp, ok := p.members[r]
		if !ok {
			return fmt.Errorf("%s: shape %s requires %s, which is not a member", where, s.Name, r)
		}
		p.required = append(p.required, mp)
	}
	return nil
}

// maxShapeDepth bounds how deeply input shapes may nest (a recursive shape
// would otherwise compile forever).
const maxShapeDepth = 32

var (
	bytesType = reflect.TypeFor[[]byte]()
	timeType  = reflect.TypeFor[time.Time]()
)

// goTypeFits reports whether a Go type can hold every value of a shape type.
func goTypeFits(shapeType string, t reflect.Type) bool {
	switch shapeType {
	case "structure":
		return t.Kind() == reflect.Struct && t != timeType
	case "list":
		return t.Kind() == reflect.Slice && t != bytesType
	case "map":
		return t.Kind() == reflect.Map && t.Key().Kind() == reflect.String
	case "string":
		return t.Kind() == reflect.String
	case "blob":
		return t == bytesType
	case "integer":
		switch t.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64:
			return true
		}
	case "long":
		return t.Kind() == reflect.Int64 || (t.Kind() == reflect.Int && t.Size() == 8)
	case "boolean":
		return t.Kind() == reflect.Bool
	case "timestamp":
		return t == timeType
	case "float", "double":
		return t.Kind() == reflect.Float64
	}
	return false
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
