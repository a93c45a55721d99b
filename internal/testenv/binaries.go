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
