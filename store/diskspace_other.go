//go:build !unix

package store

import (
	"errors"
	"syscall"
)

// diskSpace cannot be told here: the reserve does not limit writes.
func diskSpace(dir string) (total, free int64, ok bool) { return 0, 0, false }

// isDiskFull reports whether err is the file system out of room.
func isDiskFull(err error) bool { return errors.Is(err, syscall.ENOSPC) }
