package harness

import (
	"path/filepath"
	"testing"
)

func TestTempParent(t *testing.T) {
	root := t.TempDir()
	if got := (options{tempRoot: root}).tempParent(); got != root {
		t.Errorf("WithTempRoot(%s): the temporary directory is made in %s", root, got)
	}
	t.Setenv("TMPDIR", root)
	if got := (options{}).tempParent(); got != root {
		t.Errorf("TMPDIR=%s: the temporary directory is made in %s", root, got)
	}
	t.Setenv("TMPDIR", "")
	want := ramTempRoot
	if want == "" {
		want = "/tmp"
	}
	if got := (options{}).tempParent(); got != want {
		t.Errorf("no TMPDIR: the temporary directory is made in %s, not %s", got, want)
	}
}

func TestRAMDir(t *testing.T) {
	if got := ramDir(filepath.Join(t.TempDir(), "missing"), 0); got != "" {
		t.Errorf("a missing directory counts as RAM-backed: %q", got)
	}
	if got := ramDir("/dev/shm", 1<<62); got != "" {
		t.Errorf("a file system without the room asked for counts: %q", got)
	}
}
