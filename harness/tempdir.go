package harness

import "os"

// ramTempRoot is where a harness without WithDataDir or WithTempRoot makes
// its temporary directory when TMPDIR is not set: a RAM-backed file system
// with room, when the system has one (see ramDir). SoftHSM2 rewrites its
// object files on every change (truncate, write, lock), which a disk file
// system journals; on a RAM-backed one an HSM node starts in about a
// third of the time.
var ramTempRoot = ramDir("/dev/shm", 1<<30)

// tempParent returns the directory in which the harness makes its temporary
// directory: WithTempRoot's, else $TMPDIR when set, else ramTempRoot when
// there is one, else os.TempDir().
func (o options) tempParent() string {
	if o.tempRoot != "" {
		return o.tempRoot
	}
	if os.Getenv("TMPDIR") == "" && ramTempRoot != "" {
		return ramTempRoot
	}
	return os.TempDir()
}
