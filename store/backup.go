package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// BackupInfo describes a backup made.
type BackupInfo struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	Rev   int64  `json:"rev"` // the store's revision in the copy
}

// Backup writes a consistent copy of the store, as of its last commit, to
// path: into a temporary file beside it, fsynced, then renamed over path,
// so path is either the old file or the whole new copy. It reads in one
// read transaction while writers go on committing; the copy holds every
// write acknowledged before Backup was called. (bbolt makes a commit that
// must grow the file's memory map wait for open read transactions, so a
// backup can hold up the commit that grows the file.)
func (s *Store) Backup(path string) (info BackupInfo, err error) {
	if s.inMemory {
		return info, fmt.Errorf("store: an in-memory store has no file to back up")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return info, fmt.Errorf("store: backup: %w", err)
	}
	if abs == s.path {
		return info, fmt.Errorf("store: backup: %s is the store's own file", abs)
	}
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".*.tmp")
	if err != nil {
		return info, fmt.Errorf("store: backup: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	err = s.view(func(tx *bolt.Tx) error {
		info.Rev = getInt(tx.Bucket(bucketMeta), keyRev)
		info.Bytes, err = tx.WriteTo(tmp)
		return err
	})
	if err != nil {
		return info, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	if err := tmp.Sync(); err != nil {
		return info, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	if err := tmp.Close(); err != nil {
		return info, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return info, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	if err := os.Rename(tmp.Name(), abs); err != nil {
		return info, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	info.Path = abs
	return info, syncDir(filepath.Dir(abs))
}

// Restore makes the store file dst a copy of the backup src, after Check
// finds src sound. The file dst had (a damaged store, say) is kept as
// dst.old. No process may hold dst: stop the node first.
func Restore(src, dst string) error {
	if err := Check(src); err != nil {
		return fmt.Errorf("store: restore: the backup is not sound: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		if err := checkNotInUse(dst); err != nil {
			return err
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		if _, serr := os.Stat(dst); serr == nil {
			err = os.Rename(dst, dst+".old")
		}
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("store: restore %s to %s: %w", src, dst, err)
	}
	return syncDir(filepath.Dir(dst))
}

// checkNotInUse fails when a process (a serving node) holds the store file,
// by bbolt's lock on it; it reads nothing, as the file may be damaged.
func checkNotInUse(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return fmt.Errorf("store: data file %s is in use by another process (is a meshrpc serve running with it? stop it first)", path)
	}
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}
