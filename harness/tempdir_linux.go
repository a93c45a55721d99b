package harness

import "syscall"

// tmpfsMagic is the file system type of tmpfs (statfs(2)).
const tmpfsMagic = 0x01021994

// ramDir returns dir if it is a writable tmpfs with at least minFree bytes
// free, else "".
func ramDir(dir string, minFree uint64) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Type != tmpfsMagic {
		return ""
	}
	if st.Bavail*uint64(st.Bsize) < minFree || syscall.Access(dir, 2 /* W_OK */) != nil {
		return ""
	}
	return dir
}
