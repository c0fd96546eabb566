package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options tune Open. nil means the defaults.
type Options struct {
	// LockTimeout bounds the wait for a data file held by another process;
	// default 1 s.
	LockTimeout time.Duration
	// MaxLog is how many changes the change log keeps at least (it drops
	// the oldest once MaxLog/16 more have gathered); default 10000.
	MaxLog int64
	// Check runs bbolt's full consistency check at open, reading every
	// page (about a second per few hundred MB from the page cache); without
	// it Open checks the meta pages, the freelist and the file's length.
	Check bool
	// InitEmpty makes a store in an existing 0-byte file, which Open
	// otherwise refuses: a crash while a store was being created leaves
	// one, but so does a copy cut short. A missing file is always created.
	InitEmpty bool
}

var (
	bucketMeta = []byte("meta")
	bucketKV   = []byte("kv")
	bucketLog  = []byte("log")

	keyFormat    = []byte("format")
	keyRev       = []byte("rev")
	keyCompacted = []byte("compacted")
	formatV1     = []byte("meshrpc-store-v1")
	formatV2     = []byte("meshrpc-store-v2") // v1 and changes made for requests
)

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	inMemory bool
	maxLog   int64

	rev       atomic.Int64
	compacted atomic.Int64
	// requests: the requests whose writes were made (Store.For), to the
	// revision of each, as the change log holds them; only the committer
	// touches it.
	requests map[string]int64

	queue   chan *op
	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once
	closed  atomic.Bool
	fault   atomic.Pointer[error] // see Fault

	watchMu sync.Mutex
	changed chan struct{} // closed and replaced after every commit
}

// Open opens (creating if missing) the store in the bbolt file path. A file
// held by another process fails after Options.LockTimeout. A file that is
// damaged, empty (see Options.InitEmpty) or not a meshrpc store fails at
// once with an error wrapping ErrDamaged that names the file, the damage and
// what to do, and the file is left untouched.
func Open(path string, opts *Options) (*Store, error) {
	return open(path, opts, false)
}

// OpenInMemory opens a store in a temporary file that is never fsynced and is
// removed on Close: for tests and the demo only, as a crash loses it.
func OpenInMemory() (*Store, error) {
	f, err := os.CreateTemp("", "meshrpc-store-*.db")
	if err != nil {
		return nil, fmt.Errorf("store: in-memory store: %w", err)
	}
	f.Close()
	os.Remove(f.Name())
	return open(f.Name(), nil, true)
}

func open(path string, opts *Options, inMemory bool) (_ *Store, err error) {
	if opts == nil {
		opts = &Options{}
	}
	lockTimeout := opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := checkFile(path, opts.InitEmpty); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = damaged(path, fmt.Sprint(p))
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: lockTimeout,
		NoSync:  inMemory,
		// With the freelist unsynced, bbolt rebuilds it on open in a goroutine
		// that panics, unrecoverably, on a corrupt file: keep it synced.
		NoFreelistSync: inMemory,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("store: data file %s is in use by another process (is a meshrpc serve running with it?)", path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, damaged(path, "bbolt: "+err.Error())
	case err != nil:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := checkDB(db, path, opts.Check); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{
		db: db, path: path, inMemory: inMemory, maxLog: opts.MaxLog,
		queue: make(chan *op, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
		changed: make(chan struct{}),
	}
	if s.maxLog <= 0 {
		s.maxLog = 10000
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// damaged is the error for a data file Open refuses.
func damaged(path, damage string) error {
	return fmt.Errorf("%w: %s: %s; the node will not serve it: restore a backup (meshrpc store restore BACKUP %s), or move the file away to start an empty store (docs/reliability.md)", ErrDamaged, path, damage, path)
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

// init checks the format marker (or writes it into a new file, or
// upgrades a v1 file's) and loads the revision and the requests.
func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: %s is a bbolt database of another program (no meshrpc format marker); refusing to touch it: give --data another file", ErrDamaged, s.path)
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keyFormat, formatV2); err != nil {
				return err
			}
		} else if f := meta.Get(keyFormat); string(f) == string(formatV1) {
			// A v1 file is a v2 file with no changes made for requests; say
			// v2, so that a meshrpc that reads only v1 refuses it from now on.
			if err := meta.Put(keyFormat, formatV2); err != nil {
				return err
			}
		} else if string(f) != string(formatV2) {
			return fmt.Errorf("store: %s has format %q; this meshrpc reads %q and %q", s.path, f, formatV1, formatV2)
		}
		for _, b := range [][]byte{bucketKV, bucketLog} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if !s.inMemory {
			s.requests = map[string]int64{}
			tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
				if r, ok := requestOf(v); ok {
					s.requests[r] = revOf(k)
				}
				return nil
			})
		}
		s.rev.Store(getInt(meta, keyRev))
		s.compacted.Store(getInt(meta, keyCompacted))
		return nil
	})
}

// Close waits for queued writes, then closes the file (and removes it for
// an in-memory store). It is idempotent.
func (s *Store) Close() error {
	var err error
	s.closing.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.stopped
		err = s.db.Close()
		if s.inMemory {
			os.Remove(s.path)
		}
		s.watchMu.Lock()
		close(s.changed)
		s.changed = nil
		s.watchMu.Unlock()
	})
	return err
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Rev is the store's revision: that of its last write.
func (s *Store) Rev() int64 { return s.rev.Load() }

func getInt(b *bolt.Bucket, k []byte) int64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putInt(b *bolt.Bucket, k []byte, n int64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return b.Put(k, v[:])
}
