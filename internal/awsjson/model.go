// Package awsjson serves AWS JSON 1.1 services (X-Amz-Target routing, the
// AWS error body, request IDs) and validates requests against the service's
// botocore model, answering constraint breaches with ValidationException in
// AWS's message form and wrongly typed JSON with SerializationException.
package awsjson

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

//go:embed models/*.json
var modelFiles embed.FS

// Model names of the embedded botocore models.
const (
	ModelKMS       = "kms-2014-11-01"
	ModelCloudHSM2 = "cloudhsmv2-2017-04-28"
)

// Model is the part of a botocore service model needed to validate requests.
type Model struct {
	TargetPrefix string
	Operations   map[string]Operation
	Shapes       map[string]*Shape
}

// Operation is one API operation of a model.
type Operation struct {
	Name   string
	Input  string // input shape name ("" if none)
	Output string
	Errors []string
}

// Shape is a botocore shape with its constraints.
type Shape struct {
	Name      string
	Type      string // structure, list, map, string, integer, long, boolean, blob, timestamp
	Required  []string
	Members   map[string]string // member name -> shape name
	Member    string            // list element shape
	Key       string            // map key shape
	Value     string            // map value shape
	Min       *float64
	Max       *float64
	Pattern   *regexp.Regexp
	PatternS  string
	Enum      []string
	Sensitive bool
}

type rawModel struct {
	Metadata struct {
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]struct {
		Name  string `json:"name"`
		Input *struct {
			Shape string `json:"shape"`
		} `json:"input"`
		Output *struct {
			Shape string `json:"shape"`
		} `json:"output"`
		Errors []struct {
			Shape string `json:"shape"`
		} `json:"errors"`
	} `json:"operations"`
	Shapes map[string]struct {
		Type     string   `json:"type"`
		Required []string `json:"required"`
		Members  map[string]struct {
			Shape string `json:"shape"`
		} `json:"members"`
		Member *struct {
			Shape string `json:"shape"`
		} `json:"member"`
		Key *struct {
			Shape string `json:"shape"`
		} `json:"key"`
		Value *struct {
			Shape string `json:"shape"`
		} `json:"value"`
		Min       *float64 `json:"min"`
		Max       *float64 `json:"max"`
		Pattern   string   `json:"pattern"`
		Enum      []string `json:"enum"`
		Sensitive bool     `json:"sensitive"`
	} `json:"shapes"`
}

// LoadModel parses one of the embedded models by name.
func LoadModel(name string) (*Model, error) {
	b, err := modelFiles.ReadFile("models/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("awsjson: no embedded model %q", name)
	}
	return ParseModel(b)
}

// ParseModel parses a botocore service-2.json model.
func ParseModel(data []byte) (*Model, error) {
	var raw rawModel
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("awsjson: model: %w", err)
	}
	m := &Model{TargetPrefix: raw.Metadata.TargetPrefix, Operations: map[string]Operation{}, Shapes: map[string]*Shape{}}
	for name, op := range raw.Operations {
		o := Operation{Name: name}
		if op.Input != nil {
			o.Input = op.Input.Shape
		}
		if op.Output != nil {
			o.Output = op.Output.Shape
		}
		for _, e := range op.Errors {
			o.Errors = append(o.Errors, e.Shape)
		}
		m.Operations[name] = o
	}
	for name, s := range raw.Shapes {
		sh := &Shape{Name: name, Type: s.Type, Required: s.Required, Min: s.Min, Max: s.Max, Enum: s.Enum, Sensitive: s.Sensitive, Members: map[string]string{}}
		for mn, mem := range s.Members {
			sh.Members[mn] = mem.Shape
		}
		if s.Member != nil {
			sh.Member = s.Member.Shape
		}
		if s.Key != nil {
			sh.Key = s.Key.Shape
		}
		if s.Value != nil {
			sh.Value = s.Value.Shape
		}
		if s.Pattern != "" {
			sh.PatternS = s.Pattern
			re, err := compilePattern(s.Pattern)
			if err != nil {
				return nil, fmt.Errorf("awsjson: shape %s: pattern %q: %w", name, s.Pattern, err)
			}
			sh.Pattern = re
		}
		m.Shapes[name] = sh
	}
	return m, nil
}

var javaUnicodeEscape = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

// compilePattern turns a model pattern (Java regex syntax) into an RE2
// expression matched against the whole value, as AWS services match.
func compilePattern(p string) (*regexp.Regexp, error) {
	p = javaUnicodeEscape.ReplaceAllString(p, `\x{$1}`)
	return regexp.Compile("^(?:" + strings.TrimSuffix(strings.TrimPrefix(p, "^"), "$") + ")$")
}
