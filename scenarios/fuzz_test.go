package scenarios_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/kmsharness/kmsharness/scenarios"
)

// FuzzParse feeds the scenario parser arbitrary files (seeded with the
// built-ins and testdata/fuzz/FuzzParse): it never panics, every error is a
// *ScenarioError naming its source, and a file it accepts validates and
// plans the same schedule twice for a seed.
func FuzzParse(f *testing.F) {
	for _, s := range scenarios.Builtins() {
		f.Add([]byte(s.Text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenarios.Parse(data, "fuzz.yaml")
		if err != nil {
			var se *scenarios.ScenarioError
			if !errors.As(err, &se) || len(se.Errors) == 0 || !errors.Is(err, scenarios.ErrBadScenario) {
				t.Fatalf("an error that is not a ScenarioError: %v", err)
			}
			for _, fe := range se.Errors {
				if fe.Source != "fuzz.yaml" || fe.Msg == "" {
					t.Fatalf("an error without its source or message: %#v", fe)
				}
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario that does not validate: %v", err)
		}
		a, b := scenarios.NewPlan(s, 3, 0), scenarios.NewPlan(s, 3, 0)
		if !reflect.DeepEqual(a, b) {
			t.Fatal("the same seed planned two schedules")
		}
		if len(a.Actions) > 100000 {
			t.Fatalf("a file of %d bytes planned %d actions", len(data), len(a.Actions))
		}
	})
}
