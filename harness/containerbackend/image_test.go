package containerbackend_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsharness/kmsharness/harness/containerbackend"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// make image, run twice, must not leave the first image dangling.
func TestImageBuildLeavesNoDanglingImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	if err := containerbackend.Available(context.Background()); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	const tag = "kmsharness/hsmnode:image-build-test"
	script := filepath.Join(testenv.ModuleRoot(), "scripts", "build-image.sh")
	id := func() string {
		out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", tag).Output()
		if err != nil {
			t.Fatalf("docker image inspect %s: %v", tag, err)
		}
		return strings.TrimSpace(string(out))
	}
	build := func() {
		cmd := exec.Command("bash", script, tag)
		cmd.Dir = testenv.ModuleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build-image.sh: %v\n%s", err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", tag).Run() })
	build()
	first := id()
	build()
	if second := id(); second == first {
		t.Fatalf("the second build did not make a new image")
	}
	if err := exec.Command("docker", "image", "inspect", first).Run(); err == nil {
		t.Errorf("the first image %s is still there (dangling)", first)
	}
}
