package scenarios

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
)

// library holds the built-in scenarios: one YAML file each, named after the
// scenario.
//
//go:embed library/*.yaml
var library embed.FS

var (
	builtinsOnce sync.Once
	builtins     map[string]*Scenario
	builtinNames []string
)

// loadBuiltins parses the embedded library once. A built-in that does not
// parse is a bug of this package: it panics (a test parses them all).
func loadBuiltins() {
	builtinsOnce.Do(func() {
		builtins = map[string]*Scenario{}
		entries, err := library.ReadDir("library")
		if err != nil {
			panic(err)
		}
		for _, e := range entries {
			data, err := library.ReadFile(path.Join("library", e.Name()))
			if err != nil {
				panic(err)
			}
			name := strings.TrimSuffix(e.Name(), ".yaml")
			s, err := Parse(data, "builtin:"+name)
			if err != nil {
				panic(fmt.Sprintf("built-in scenario %s: %v", name, err))
			}
			if s.Name != name {
				panic(fmt.Sprintf("built-in scenario file %s names itself %s", e.Name(), s.Name))
			}
			builtins[name] = s
			builtinNames = append(builtinNames, name)
		}
		sort.Strings(builtinNames)
	})
}

// Builtins returns the built-in scenarios, sorted by name.
func Builtins() []*Scenario {
	loadBuiltins()
	out := make([]*Scenario, 0, len(builtinNames))
	for _, name := range builtinNames {
		out = append(out, builtins[name].clone())
	}
	return out
}

// Builtin returns the built-in scenario of that name.
func Builtin(name string) (*Scenario, bool) {
	loadBuiltins()
	s, ok := builtins[name]
	if !ok {
		return nil, false
	}
	return s.clone(), true
}

// clone returns a copy a caller may change (re-parsed from its text, so
// that nothing is shared).
func (s *Scenario) clone() *Scenario {
	c, err := Parse([]byte(s.Text), s.Source)
	if err != nil {
		panic(err)
	}
	return c
}
