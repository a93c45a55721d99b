package harness

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// What a harness leaves in the temporary directory while it runs, and a
// killed one leaves behind: its directory (holding node tokens, trust
// anchors and PINs) and the KMS front end's state database.
const (
	tempDirPattern = "kmsharness-"
	ownerLockName  = ".owner-lock"
	kmsDBPattern   = "kmsharness-kms-*.db"
)

// staleAfter is how old an unlocked state database must be before it
// counts as left behind (a live one is locked, but only once open).
const staleAfter = time.Minute

// ownedTempDir makes the harness's temporary directory and takes an
// exclusive lock that lasts as long as the process holding the returned
// file: a harness killed before Close leaves a directory whose lock is
// free, which the next Start removes. The lock is taken on a file of
// another name, then renamed into place, so that no sweep ever sees the
// directory's lock file unlocked while its owner lives.
func ownedTempDir(root string) (string, *os.File, error) {
	dir, err := os.MkdirTemp(root, tempDirPattern)
	if err != nil {
		return "", nil, err
	}
	pending := filepath.Join(dir, ownerLockName+".pending")
	f, err := os.OpenFile(pending, os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err == nil {
		err = os.Rename(pending, filepath.Join(dir, ownerLockName))
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, f, nil
}

// RemoveLeftovers removes what killed harnesses left in the temporary
// directory (os.TempDir(), and the RAM-backed one harnesses use when TMPDIR
// is not set): harness directories whose owner lock is free, and KMS state
// databases no process has open. It returns what it removed. Start does
// the same, in WithTempRoot's directory too; it is safe while other
// harnesses run.
func RemoveLeftovers(log *slog.Logger) []string {
	return removeLeftovers(log, "")
}

// removeLeftovers removes what killed harnesses left in os.TempDir(),
// ramTempRoot and also (if not "").
func removeLeftovers(log *slog.Logger, also string) []string {
	var removed []string
	seen := map[string]bool{"": true}
	for _, dir := range []string{os.TempDir(), ramTempRoot, also} {
		if !seen[dir] {
			seen[dir] = true
			removed = append(removed, removeLeftoversIn(log, dir)...)
		}
	}
	if len(removed) > 0 {
		log.Info("removed what killed harnesses left behind", "paths", removed)
	}
	return removed
}

// removeLeftoversIn removes what killed harnesses left in the directory tmp.
func removeLeftoversIn(log *slog.Logger, tmp string) []string {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		path := filepath.Join(tmp, e.Name())
		switch {
		case e.IsDir() && strings.HasPrefix(e.Name(), tempDirPattern):
			if !unlocked(filepath.Join(path, ownerLockName)) {
				continue
			}
		case !e.IsDir():
			if ok, _ := filepath.Match(kmsDBPattern, e.Name()); !ok || !unlocked(path) {
				continue
			}
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < staleAfter {
				continue
			}
		default:
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			log.Warn("removing what a killed harness left", "path", path, "err", err)
			continue
		}
		removed = append(removed, path)
	}
	return removed
}

// unlocked reports whether path exists and no process holds a lock on it.
func unlocked(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || err != nil {
		return false
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}
