package awsjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// maxListedViolations caps how many breaches one message lists.
const maxListedViolations = 10

// Validate checks a request body against the operation's input shape. A body
// that is not a JSON object, or a member of the wrong JSON type, gives a
// SerializationException; constraint breaches give one ValidationException
// listing them all, in AWS's wording.
func (m *Model) Validate(operation string, body []byte) error {
	op, ok := m.Operations[operation]
	if !ok {
		return &Error{Type: "UnknownOperationException", Status: 400, Message: "Unknown operation " + operation}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return &Error{Type: "SerializationException", Status: 400, Message: "Request body is not valid JSON: " + err.Error()}
	}
	if dec.More() {
		return &Error{Type: "SerializationException", Status: 400, Message: "Request body has data after the JSON object"}
	}
	if _, isObject := v.(map[string]any); !isObject {
		return &Error{Type: "SerializationException", Status: 400, Message: "Request body must be a JSON object"}
	}
	if op.Input == "" {
		return nil
	}
	var c checker
	c.model = m
	c.check(op.Input, v, "", true)
	if c.serialization != "" {
		return &Error{Type: "SerializationException", Status: 400, Message: c.serialization}
	}
	if len(c.violations) == 0 {
		return nil
	}
	n := len(c.violations)
	listed := c.violations
	if n > maxListedViolations {
		listed = listed[:maxListedViolations]
	}
	noun := "error"
	if n > 1 {
		noun = "errors"
	}
	return &Error{Type: "ValidationException", Status: 400,
		Message: fmt.Sprintf("%d validation %s detected: %s", n, noun, strings.Join(listed, "; "))}
}

type checker struct {
	model         *Model
	violations    []string
	serialization string
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func join(path, member string) string {
	if path == "" {
		return member
	}
	return path + "." + member
}

// describe renders a value for a message; sensitive values are never shown.
func describe(v any, sensitive bool) string {
	if sensitive {
		return "Value"
	}
	switch x := v.(type) {
	case nil:
		return "Value null"
	case string:
		return fmt.Sprintf("Value '%s'", x)
	case json.Number:
		return fmt.Sprintf("Value '%s'", x.String())
	case bool:
		return fmt.Sprintf("Value '%t'", x)
	}
	return "Value"
}

func (c *checker) violate(v any, sensitive bool, path, constraint string) {
	c.violations = append(c.violations, fmt.Sprintf("%s at '%s' failed to satisfy constraint: %s", describe(v, sensitive), path, constraint))
}

func (c *checker) wrongType(path, want string) {
	if c.serialization == "" {
		c.serialization = fmt.Sprintf("Member '%s' must be a JSON %s", path, want)
	}
}

func (c *checker) check(shapeName string, v any, path string, top bool) {
	s := c.model.Shapes[shapeName]
	if s == nil || v == nil {
		return
	}
	switch s.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			c.wrongType(path, "object")
			return
		}
		for _, req := range s.Required {
			if val, present := obj[req]; !present || val == nil {
				c.violate(nil, false, join(path, lowerFirst(req)), "Member must not be null")
			}
		}
		for name, memberShape := range s.Members {
			if val, present := obj[name]; present {
				c.check(memberShape, val, join(path, lowerFirst(name)), false)
			}
		}
	case "list":
		arr, ok := v.([]any)
		if !ok {
			c.wrongType(path, "array")
			return
		}
		c.length(s, v, float64(len(arr)), path)
		for i, el := range arr {
			c.check(s.Member, el, fmt.Sprintf("%s.%d.member", path, i+1), false)
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			c.wrongType(path, "object")
			return
		}
		c.length(s, v, float64(len(obj)), path)
		for k, val := range obj {
			c.check(s.Key, k, path+".key", false)
			c.check(s.Value, val, fmt.Sprintf("%s.%s.value", path, k), false)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			c.wrongType(path, "string")
			return
		}
		c.length(s, v, float64(utf8.RuneCountInString(str)), path)
		if s.Pattern != nil && !s.Pattern.MatchString(str) {
			c.violate(v, s.Sensitive, path, "Member must satisfy regular expression pattern: "+s.PatternS)
		}
		if len(s.Enum) > 0 && !contains(s.Enum, str) {
			c.violate(v, s.Sensitive, path, "Member must satisfy enum value set: ["+strings.Join(s.Enum, ", ")+"]")
		}
	case "blob":
		str, ok := v.(string)
		if !ok {
			c.wrongType(path, "string (base64)")
			return
		}
		raw, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			c.wrongType(path, "base64 string")
			return
		}
		c.length(s, nil, float64(len(raw)), path)
	case "integer", "long":
		num, ok := v.(json.Number)
		if !ok {
			c.wrongType(path, "number")
			return
		}
		f, err := num.Float64()
		if err != nil || f != math.Trunc(f) {
			c.wrongType(path, "integer")
			return
		}
		if s.Min != nil && f < *s.Min {
			c.violate(v, s.Sensitive, path, fmt.Sprintf("Member must have value greater than or equal to %v", *s.Min))
		}
		if s.Max != nil && f > *s.Max {
			c.violate(v, s.Sensitive, path, fmt.Sprintf("Member must have value less than or equal to %v", *s.Max))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.wrongType(path, "boolean")
		}
	case "timestamp":
		if _, ok := v.(json.Number); !ok {
			c.wrongType(path, "number (epoch seconds)")
		}
	}
}

func (c *checker) length(s *Shape, v any, n float64, path string) {
	sensitive := s.Sensitive || v == nil
	if s.Min != nil && n < *s.Min {
		c.violate(v, sensitive, path, fmt.Sprintf("Member must have length greater than or equal to %v", *s.Min))
	}
	if s.Max != nil && n > *s.Max {
		c.violate(v, sensitive, path, fmt.Sprintf("Member must have length less than or equal to %v", *s.Max))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
