//go:build unix

package store

import (
	"errors"

	"golang.org/x/sys/unix"
)

// diskSpace is the size of the file system holding dir and the bytes free
// on it for an unprivileged user; ok false when it cannot be told.
func diskSpace(dir string) (total, free int64, ok bool) {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return 0, 0, false
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), true
}

// isDiskFull reports whether err is the file system out of room: no space
// left, or the user's disk quota.
func isDiskFull(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
