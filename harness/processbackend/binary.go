package processbackend

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// ModulePath is the Go module hsmnode is built from.
const ModulePath = "github.com/kmsharness/kmsharness"

// EnvBinary names an hsmnode executable to use instead of finding or
// building one.
const EnvBinary = "KMSHARNESS_HSMNODE"

// FindBinary returns the hsmnode executable: $KMSHARNESS_HSMNODE, then
// "hsmnode" next to the running executable, then on PATH. When there is
// none, it builds hsmnode from the kmsharness module the running program
// was built with — found through its build information, a replace
// directive or the module cache — once, into the user's cache directory
// under the module version, so that `go get` is all the installing a Go
// user does.
func FindBinary(log *slog.Logger) (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "hsmnode")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("hsmnode"); err == nil {
		return p, nil
	}
	return BuildBinary(log)
}

// BuildBinary builds hsmnode from the kmsharness module's source into the
// user's cache directory and returns its path. A released version is built
// once; a development tree (a replace directive, or kmsharness itself) is
// rebuilt on each call, which Go's build cache makes quick. Concurrent
// callers (parallel test processes) build it once between them.
func BuildBinary(log *slog.Logger) (string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("hsmnode was not found and cannot be built: no go command on PATH (set %s to an hsmnode executable)", EnvBinary)
	}
	src, version, err := moduleSource(goTool)
	if err != nil {
		return "", fmt.Errorf("hsmnode was not found and cannot be built: %w (set %s to an hsmnode executable)", err, EnvBinary)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	release := version != "" && version != "(devel)"
	key := version
	if !release {
		sum := sha256.Sum256([]byte(src))
		key = "devel-" + hex.EncodeToString(sum[:6])
	}
	dir := filepath.Join(cache, "kmsharness", "hsmnode", key)
	bin := filepath.Join(dir, "hsmnode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil && release {
		return bin, nil
	}
	log.Info("building hsmnode from the kmsharness module", "module", ModulePath, "version", key, "source", src, "into", bin)
	tmp := bin + ".tmp"
	cmd := exec.Command(goTool, "build", "-o", tmp, "./cmd/hsmnode")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("building hsmnode in %s: %w: %s", src, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// moduleSource returns the directory holding the kmsharness module's
// source that this program was built from, and the module's version
// ("(devel)" or "" for a development tree).
func moduleSource(goTool string) (dir, version string, err error) {
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if bi.Main.Path == ModulePath {
			version = bi.Main.Version
		}
		for _, dep := range bi.Deps {
			if dep.Path != ModulePath {
				continue
			}
			version = dep.Version
			if dep.Replace != nil {
				version = "(devel)"
				if filepath.IsAbs(dep.Replace.Path) && isModuleRoot(dep.Replace.Path) {
					return dep.Replace.Path, version, nil
				}
			}
		}
	}
	// The source file of this package, when the build kept its path: the
	// module root is two directories up.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if root := filepath.Join(filepath.Dir(file), "..", ".."); isModuleRoot(root) {
			return filepath.Clean(root), version, nil
		}
	}
	// A released version in the module cache.
	if version != "" && version != "(devel)" {
		out, err := exec.Command(goTool, "env", "GOMODCACHE").Output()
		if err == nil {
			root := filepath.Join(strings.TrimSpace(string(out)), ModulePath+"@"+version)
			if isModuleRoot(root) {
				return root, version, nil
			}
		}
	}
	return "", "", errors.New("the source of module " + ModulePath + " is not on this machine")
}

// isModuleRoot reports whether dir holds the kmsharness module's go.mod
// and hsmnode's source.
func isModuleRoot(dir string) bool {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module "+ModulePath+"\n") {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "cmd", "hsmnode", "main.go"))
	return err == nil
}

// lockFile takes an exclusive lock on path (made if need be) and returns
// the function that releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// EnvSoftHSMLibrary names the SoftHSM2 PKCS#11 library the nodes load.
const EnvSoftHSMLibrary = "KMSHARNESS_SOFTHSM_LIB"

// softHSMLibraryPaths are where packages put libsofthsm2.
var softHSMLibraryPaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                   // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",  // Debian multiarch
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", // Debian multiarch, arm64
	"/usr/lib64/pkcs11/libsofthsm2.so",                  // Fedora, RHEL
	"/usr/lib/pkcs11/libsofthsm2.so",                    // Arch
	"/usr/local/lib/softhsm/libsofthsm2.so",             // built from source
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",          // macOS, Homebrew (Apple silicon)
	"/usr/local/lib/softhsm/libsofthsm2.dylib",          // macOS, Homebrew (Intel)
	"/opt/homebrew/lib/softhsm/libsofthsm2.dylib",
}

// ErrNoSoftHSM means SoftHSM2 is not installed.
var ErrNoSoftHSM = errors.New("SoftHSM2 is not installed (libsofthsm2.so not found): " +
	"install it — Debian/Ubuntu: sudo apt-get install softhsm2; Fedora: sudo dnf install softhsm; " +
	"macOS: brew install softhsm — or name the library with " + EnvSoftHSMLibrary + " or harness.WithSoftHSMLibrary")

// FindSoftHSMLibrary returns the SoftHSM2 library: $KMSHARNESS_SOFTHSM_LIB,
// else the first of the places packages install it, else ErrNoSoftHSM.
func FindSoftHSMLibrary() (string, error) {
	if p := os.Getenv(EnvSoftHSMLibrary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvSoftHSMLibrary, p, err)
		}
		return p, nil
	}
	for _, p := range softHSMLibraryPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoSoftHSM
}
