package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// ErrDiskFull is a write refused because the file system that holds the
// store has less free space than the store's reserve: deletes still work,
// so that the owner can make room.
var ErrDiskFull = errors.New("store: the disk is nearly full")

// reserveName is the reserve file's name beside the data file: room kept on
// the data file's file system, given up when the disk is full so that
// deletes can commit.
func reserveName(path string) string { return path + ".reserve" }

// defaultReserve is the reserve when Options.Reserve is 0: 16 MiB, or a
// sixty-fourth of a smaller file system.
const defaultReserve = 16 << 20

// reserve keeps room on the store's file system for deletes. A write is
// refused (ErrDiskFull) when what is free, less what the writes in flight
// may take, is below size: so the store's own writes never take the last
// size bytes, and a delete, which needs a few pages, commits. Other
// programs may still fill the disk: for them the store keeps a file of
// size bytes (made at Open when there is room for it) that a delete
// removes when the free space is below half the reserve.
//
// A commit that still meets a full disk (ENOSPC, EDQUOT: the reserve
// given up, or none kept) is refused with ErrDiskFull and the store serves
// on (see commitFailed). The file matters when the data file has no free
// pages for a delete to be written into (a compacted or salvaged file);
// otherwise bbolt writes it into pages that earlier commits freed
// (TestTheReserveFileLetsDeletesCommit shows both).
type reserve struct {
	dir      string // the file system's, as statfs sees it
	file     string // the reserve file; "" for none (in memory)
	size     int64
	pageSize int64        // the data file's
	pending  atomic.Int64 // bytes the writes in flight may take
	mu       sync.Mutex   // serializes giving the file up
}

// newReserve sets up the reserve of a store in path: size bytes (0 for the
// default), and the reserve file, made if missing and there is room.
func newReserve(path string, size int64, inMemory bool, pageSize int) *reserve {
	r := &reserve{dir: filepath.Dir(path), size: size, pageSize: int64(pageSize)}
	if r.size == 0 {
		r.size = defaultReserve
		if total, _, ok := diskSpace(r.dir); ok {
			r.size = min(r.size, total/64)
		}
	}
	if r.size < 0 || inMemory {
		return &reserve{dir: r.dir} // none: a temporary store, or asked for none
	}
	r.file = reserveName(path)
	if _, free, ok := diskSpace(r.dir); ok && free >= 3*r.size {
		if fi, err := os.Stat(r.file); err != nil || fi.Size() != r.size {
			if err := writeZeros(r.file, r.size); err != nil {
				os.Remove(r.file)
			}
		}
	}
	return r
}

// writeZeros writes a file of n zero bytes, allocated (not sparse), and
// syncs it.
func writeZeros(name string, n int64) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for left := n; left > 0 && err == nil; left -= int64(len(buf)) {
		_, err = f.Write(buf[:min(left, int64(len(buf)))])
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// admit takes room for a write of n bytes of key and value, which the
// store writes about twice (the key's record and the change log's copy),
// or refuses it with ErrDiskFull. done gives the room back once the write
// is committed or failed. Room is what the file system has free and the
// free pages inside the data file (what deletes gave back: bbolt reuses
// its pages but never shrinks the file).
func (s *Store) admit(n int) (done func(), err error) {
	r := s.reserve
	if r.size <= 0 {
		return func() {}, nil
	}
	need := 2*int64(n) + 16<<10 // and a few pages
	p := r.pending.Add(need)
	done = func() { r.pending.Add(-need) }
	if _, free, ok := diskSpace(r.dir); ok && free+s.freeInFile()-p < r.size {
		done()
		return nil, fmt.Errorf("%w: %d bytes free on the file system of %s, and the store keeps the last %d for deletes; delete keys or free disk space, then write again", ErrDiskFull, free, r.dir, r.size)
	}
	return done, nil
}

// freeInFile is the bytes of the data file's free pages.
func (s *Store) freeInFile() int64 {
	return int64(s.db.Stats().FreePageN) * s.reserve.pageSize // Stats, unlike Info, is safe after Close
}

// makeRoom, before a delete, gives up the reserve file when the file
// system has less than half the reserve free, so that the delete commits.
func (r *reserve) makeRoom() {
	if r.file == "" {
		return
	}
	if _, free, ok := diskSpace(r.dir); !ok || free >= r.size/2 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	os.Remove(r.file) // made again at the next Open if there is room
}
