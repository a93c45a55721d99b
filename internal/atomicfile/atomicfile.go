// Package atomicfile writes files so that a crash leaves the old or the new
// content, never a torn file, and removes what a crash leaves behind.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix starts the name of every temporary file Write makes.
const tempPrefix = ".tmp-"

// Write writes data to path through a private (0600) temporary file in the
// same directory, synced, then renamed over path. A process killed while it
// writes leaves that temporary file (holding the data, which may be a
// secret) behind: RemoveStale removes it.
func Write(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPrefix+"*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// RemoveStale removes the temporary files of Writes into dir that a crash
// interrupted, and returns how many it removed. Call it when taking dir
// over, before anything writes there: it would remove the temporary file of
// a Write in progress too. A directory that does not exist has none.
func RemoveStale(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}
