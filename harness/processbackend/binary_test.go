package processbackend

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindBinaryPrefersTheEnvironment(t *testing.T) {
	t.Setenv(EnvBinary, "/some/hsmnode")
	got, err := FindBinary(nil)
	if err != nil || got != "/some/hsmnode" {
		t.Fatalf("FindBinary = %q, %v", got, err)
	}
}

// With nothing configured, hsmnode is built from this module's source into
// the user's cache directory, and the result runs.
func TestBuildBinaryBuildsAWorkingNodeIntoTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hsmnode")
	}
	// Keep Go's own caches where they are (they default to places under
	// HOME), then move the user's cache directory somewhere new.
	for _, name := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(name, strings.TrimSpace(string(out)))
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache) // os.UserCacheDir on Linux
	t.Setenv("HOME", cache)
	bin, err := BuildBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bin, cache) || filepath.Base(bin) != "hsmnode" {
		t.Fatalf("built %s, not in the cache directory %s", bin, cache)
	}
	out, err := exec.Command(bin, "--bogus-flag").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "-data-dir") {
		t.Fatalf("the built hsmnode does not answer as hsmnode: %v: %s", err, out)
	}
	if _, err := os.Stat(bin + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("a temporary file is left: %v", err)
	}
}

func TestFindSoftHSMLibrary(t *testing.T) {
	t.Setenv(EnvSoftHSMLibrary, filepath.Join(t.TempDir(), "missing.so"))
	if _, err := FindSoftHSMLibrary(); err == nil {
		t.Fatal("a missing library named by the environment was accepted")
	}
	t.Setenv(EnvSoftHSMLibrary, "")
	saved := softHSMLibraryPaths
	t.Cleanup(func() { softHSMLibraryPaths = saved })
	softHSMLibraryPaths = []string{filepath.Join(t.TempDir(), "libsofthsm2.so")}
	_, err := FindSoftHSMLibrary()
	if !errors.Is(err, ErrNoSoftHSM) {
		t.Fatalf("no library anywhere: %v", err)
	}
	for _, hint := range []string{"apt-get install softhsm2", "brew install softhsm"} {
		if !strings.Contains(err.Error(), hint) {
			t.Errorf("the error does not say %q: %v", hint, err)
		}
	}
	lib := filepath.Join(t.TempDir(), "libsofthsm2.so")
	if err := os.WriteFile(lib, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	softHSMLibraryPaths = append(softHSMLibraryPaths, lib)
	if got, err := FindSoftHSMLibrary(); err != nil || got != lib {
		t.Fatalf("FindSoftHSMLibrary = %q, %v", got, err)
	}
}
