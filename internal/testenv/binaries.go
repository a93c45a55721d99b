package testenv

import (
	"os"
	"path/filepath"
)

// BuildHSMNode builds cmd/hsmnode into dir and points the process backend
// at it through KMSHARNESS_HSMNODE, for this process and its children.
func BuildHSMNode(dir string) (string, error) {
	bin, err := BuildBinary(dir, "./cmd/hsmnode")
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	return abs, os.Setenv("KMSHARNESS_HSMNODE", abs)
}

// BuildHSMNodeOnce is the first half of a Ginkgo SynchronizedBeforeSuite:
// it builds hsmnode once for all parallel processes and returns its path.
func BuildHSMNodeOnce() ([]byte, error) {
	bin, err := BuildHSMNode(BinDir("test"))
	return []byte(bin), err
}

// UseHSMNode is the second half: every process points the process backend
// at the binary built by BuildHSMNodeOnce.
func UseHSMNode(path []byte) error {
	return os.Setenv("KMSHARNESS_HSMNODE", string(path))
}

// BinDir returns a directory for binaries the tests build, named for its
// use, in the user's cache directory: builds are reused across runs (Go's
// build cache makes them quick) and nothing is left in the temporary
// directory.
func BinDir(use string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "kmsharness", "test-bin", use)
}
