package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Check runs the full check (Options.Check) of the store file at path
// without changing it, as `meshrpc store check` does: nil when it is a
// sound meshrpc store, else an error wrapping ErrDamaged. A store being
// served holds its file, and Check fails after a second.
func Check(path string) (err error) {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := checkFile(path, false); err != nil {
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = damaged(path, fmt.Sprint(p))
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	if err := checkDB(db, path, true); err != nil {
		return err
	}
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: %s is a bbolt database of another program (no meshrpc format marker)", ErrDamaged, path)
		}
		if f := meta.Get(keyFormat); string(f) != string(formatV1) && string(f) != string(formatV2) && string(f) != string(formatV3) {
			return fmt.Errorf("%w: %s has format %q; this meshrpc reads %q, %q and %q", ErrDamaged, path, f, formatV1, formatV2, formatV3)
		}
		return nil
	})
}

// openError explains an error of bolt.Open.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("store: data file %s is in use by another process (is a meshrpc serve running with it?)", path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return damaged(path, "bbolt: "+err.Error())
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// damaged is the error for a data file Open refuses.
func damaged(path, damage string) error {
	return fmt.Errorf("%w: %s: %s; the node will not serve it: restore a backup (meshrpc store restore BACKUP %s), or copy the keys it can still read into a new file (meshrpc store check --repair %s), or move the file away to start an empty store (docs/reliability.md)", ErrDamaged, path, damage, path, path)
}

// checkDB checks what bbolt opened: that the file holds every page its
// meta page counts, and with full, bbolt's consistency check of every page.
func checkDB(db *bolt.DB, path string, full bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return db.View(func(tx *bolt.Tx) error {
		if fi.Size() < tx.Size() {
			return damaged(path, fmt.Sprintf("truncated: %d bytes, its pages need %d", fi.Size(), tx.Size()))
		}
		if !full {
			return nil
		}
		// Read every key and value here first: tx.Check runs in a goroutine
		// of its own, where a fault on the memory-mapped file would not
		// become a panic (see open) but end the process.
		err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				touched.Add(uint32(touch(k) + touch(v)))
				return nil
			})
		})
		if err != nil {
			return err
		}
		var problems []string
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err.Error())
			}
		}
		if len(problems) > 0 {
			return damaged(path, "consistency check: "+strings.Join(problems, "; "))
		}
		return nil
	})
}

// touched keeps touch's reads from being optimized away.
var touched atomic.Uint32

// touch reads a byte of every page b spans.
func touch(b []byte) (sum byte) {
	for i := 0; i < len(b); i += 1024 {
		sum += b[i]
	}
	if len(b) > 0 {
		sum += b[len(b)-1]
	}
	return sum
}

// checkFile refuses an empty file (unless initEmpty) and a file that is not
// a bbolt database, before bbolt gets to read it.
func checkFile(path string, initEmpty bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	var hdr [20]byte
	n, err := io.ReadFull(f, hdr[:])
	if n == 0 && initEmpty {
		return nil // bbolt initializes it
	}
	if n == 0 {
		return fmt.Errorf("%w: %s is empty (0 bytes), as a copy cut short or a crash while it was being created leaves it; if it should hold data, restore a backup (meshrpc store restore BACKUP %s); to start an empty store in it, serve once with --init-store (docs/reliability.md)", ErrDamaged, path, path)
	}
	const boltMagic = 0xED0CDAED // meta page: 16-byte page header, then the magic
	if err != nil || binary.LittleEndian.Uint32(hdr[16:]) != boltMagic {
		return fmt.Errorf("%w: %s is not a meshrpc data file (not a bbolt database, or its first page is damaged); refusing to touch it: if it is a damaged store, restore a backup (meshrpc store restore BACKUP %s), else give --data another file (docs/reliability.md)", ErrDamaged, path, path)
	}
	return nil
}
