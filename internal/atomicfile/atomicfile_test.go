package atomicfile_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kmsharness/kmsharness/internal/atomicfile"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteLeavesOnlyTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"old", "new"} {
		if err := atomicfile.Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new" {
		t.Fatalf("content %q, %v; want new", got, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", info.Mode(), err)
	}
	if n := names(t, dir); !slices.Equal(n, []string{"state.json"}) {
		t.Fatalf("directory holds %v", n)
	}
}

// A Write interrupted by a crash leaves its temporary file, holding the
// data; RemoveStale removes such files and nothing else.
func TestRemoveStaleRemovesWhatACrashLeft(t *testing.T) {
	dir := t.TempDir()
	if err := atomicfile.Write(filepath.Join(dir, "node.json"), []byte(`{"userPin":"1234"}`)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		tmp, err := os.CreateTemp(dir, ".tmp-*")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tmp.WriteString(`{"userPin":"5678"}`); err != nil {
			t.Fatal(err)
		}
		_ = tmp.Close()
	}
	for _, keep := range []string{"tmp-not-ours", ".tmpfile", "notes.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, keep), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	removed, err := atomicfile.RemoveStale(dir)
	if err != nil || removed != 2 {
		t.Fatalf("removed %d, %v; want 2", removed, err)
	}
	want := []string{".tmp-dir", ".tmpfile", "node.json", "notes.tmp-1", "tmp-not-ours"}
	if n := names(t, dir); !slices.Equal(n, want) {
		t.Fatalf("directory holds %v, want %v", n, want)
	}
	if removed, err := atomicfile.RemoveStale(filepath.Join(dir, "absent")); err != nil || removed != 0 {
		t.Fatalf("absent directory: removed %d, %v", removed, err)
	}
}
