package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
)

// EnvBinDir names a directory holding hsmnode and kmsharness freshly built
// from this tree (make test sets it to bin/ after building them there): the
// suites use those instead of linking their own.
const EnvBinDir = "KMSHARNESS_TEST_BIN"

// ProjectBinary returns the absolute path of the binary of the main package
// pkg (for example "./cmd/hsmnode"): the one in $KMSHARNESS_TEST_BIN when
// it is there, else one built into dir.
func ProjectBinary(dir, pkg string) (string, error) {
	if prebuilt := os.Getenv(EnvBinDir); prebuilt != "" {
		bin, err := filepath.Abs(filepath.Join(prebuilt, filepath.Base(pkg)))
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	bin, err := BuildBinary(dir, pkg)
	if err != nil {
		return "", err
	}
	return filepath.Abs(bin)
}

// BuildHSMNode provides hsmnode (ProjectBinary, built into dir if need be)
// and points the process backend at it through KMSHARNESS_HSMNODE, for
// this process and its children.
func BuildHSMNode(dir string) (string, error) {
	bin, err := ProjectBinary(dir, "./cmd/hsmnode")
	if err != nil {
		return "", err
	}
	return bin, os.Setenv("KMSHARNESS_HSMNODE", bin)
}

// BuildHSMNodeOnce is the first half of a Ginkgo SynchronizedBeforeSuite:
// it provides hsmnode once for all parallel processes and returns its path.
func BuildHSMNodeOnce() ([]byte, error) {
	bin, err := BuildHSMNode(BinDir("test"))
	return []byte(bin), err
}

// UseHSMNode is the second half: every process points the process backend
// at the binary BuildHSMNodeOnce provided.
func UseHSMNode(path []byte) error {
	return os.Setenv("KMSHARNESS_HSMNODE", string(path))
}

// BinDir returns a directory for binaries the tests build, named for its
// use, in the user's cache directory: builds are reused across runs (Go's
// build cache makes them quick) and nothing is left in the temporary
// directory. Each source tree (clone, worktree) has directories of its
// own, so that test runs of different trees do not overwrite each other's
// binaries.
func BinDir(use string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	root, err := filepath.Abs(ModuleRoot())
	if err != nil {
		root = ModuleRoot()
	}
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(dir, "kmsharness", "test-bin", hex.EncodeToString(sum[:6]), use)
}
