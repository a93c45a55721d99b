// Package testenv holds helpers shared by the project's tests: locating the
// SoftHSM2 library and building the project's binaries once per test run.
package testenv

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// SoftHSMLibrary returns the PKCS#11 library to test against: the
// KMSHARNESS_SOFTHSM_LIB environment variable, or Debian's default path.
func SoftHSMLibrary() string {
	if p := os.Getenv("KMSHARNESS_SOFTHSM_LIB"); p != "" {
		return p
	}
	return "/usr/lib/softhsm/libsofthsm2.so"
}

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildBinary compiles the main package at pkg (relative to the module root,
// for example "./cmd/hsmnode") into dir and returns the binary's path.
func BuildBinary(dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

// Logger returns a debug logger writing to w (GinkgoWriter in specs, so logs
// show only for failed specs).
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
