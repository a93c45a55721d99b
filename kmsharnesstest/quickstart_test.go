package kmsharnesstest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2"
)

// moduleRoot is the checkout holding this package.
func moduleRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no source path")
	}
	return filepath.Dir(filepath.Dir(file))
}

// quickstartBlock finds the code block the README marks as a quick-start
// file: `<!-- quickstart: NAME -->` followed by a ```go block.
var quickstartBlock = regexp.MustCompile("(?s)<!-- quickstart: ([a-z_]+\\.go) -->\\s*```go\\n(.*?)```")

// The README's quick start is what a Go team copies into its own module:
// run it there, as they would — a fresh module outside this checkout (a
// replace directive standing for `go get`), `go test`, no environment
// variable set, no make step, no hsmnode built beforehand.
func TestREADMEQuickstartRunsInAFreshModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	// This package's examples make it a Ginkgo suite, so `ginkgo -p` runs
	// its plain tests in every parallel process: once is enough.
	if suiteConfig, _ := ginkgo.GinkgoConfiguration(); suiteConfig.ParallelProcess > 1 {
		t.Skip("run by Ginkgo's first parallel process")
	}
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := quickstartBlock.FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no quick-start block")
	}
	dir := t.TempDir()
	gomod := "module example.com/quickstart\n\ngo 1.26\n\nrequire github.com/kmsharness/kmsharness v0.0.0\n\n" +
		"replace github.com/kmsharness/kmsharness => " + root + "\n"
	for name, content := range map[string][]byte{"go.mod": []byte(gomod), string(m[1]): m[2]} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := freshEnvironment(t)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go %s:\n%s", strings.Join(args, " "), out)
	}
	run("mod", "tidy")
	run("test", "-count=1", "./...")
}

// freshEnvironment is this process's environment without kmsharness's
// variables, with a user cache directory of its own (so hsmnode is built
// there, as on a user's first run) and Go's own caches where they are.
func freshEnvironment(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KMSHARNESS_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			env = append(env, kv)
		}
	}
	for _, name := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, name+"="+strings.TrimSpace(string(out)))
	}
	home := t.TempDir()
	return append(env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
}
