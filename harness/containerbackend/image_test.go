package containerbackend_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kmsharness/kmsharness/harness/containerbackend"
	"github.com/kmsharness/kmsharness/internal/testenv"
)

// make image run again on the same files keeps the image; run on other
// files it makes a new one and must not leave the first dangling.
func TestImageBuildLeavesNoDanglingImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	if err := containerbackend.Available(context.Background()); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	// ginkgo -p runs this test in each of its processes: a tag of its own.
	tag := "kmsharness/hsmnode:image-build-test-" + strconv.Itoa(os.Getpid())
	script := filepath.Join(testenv.ModuleRoot(), "scripts", "build-image.sh")
	id := func() string {
		out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", tag).Output()
		if err != nil {
			t.Fatalf("docker image inspect %s: %v", tag, err)
		}
		return strings.TrimSpace(string(out))
	}
	// Two hsmnode binaries that differ by a trailing byte, each in a
	// directory the script takes its hsmnode from.
	hsmnode, err := testenv.ProjectBinary(t.TempDir(), "./cmd/hsmnode")
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile(hsmnode)
	if err != nil {
		t.Fatal(err)
	}
	same, other := t.TempDir(), t.TempDir()
	for dir, content := range map[string][]byte{same: program, other: append(program[:len(program):len(program)], 0)} {
		if err := os.WriteFile(filepath.Join(dir, "hsmnode"), content, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := func(binDir string) {
		cmd := exec.Command("bash", script, tag)
		cmd.Dir = testenv.ModuleRoot()
		cmd.Env = append(os.Environ(), testenv.EnvBinDir+"="+binDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build-image.sh: %v\n%s", err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", tag).Run() })
	build(same)
	first := id()
	build(same)
	if again := id(); again != first {
		t.Errorf("a build of the same files made a new image (%s, then %s)", first, again)
	}
	build(other)
	if second := id(); second == first {
		t.Fatalf("a build of other files did not make a new image")
	}
	if err := exec.Command("docker", "image", "inspect", first).Run(); err == nil {
		t.Errorf("the first image %s is still there (dangling)", first)
	}
}
