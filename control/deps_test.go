package control_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The protocol package is for other implementations to serve: it must
// depend on the standard library alone.
func TestDependsOnTheStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if len(deps) != 1 || deps[0] != "github.com/kmsharness/kmsharness/control" {
		t.Fatalf("control depends on %v", deps)
	}
}
