package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options tune Open. nil means the defaults.
type Options struct {
	// LockTimeout bounds the wait for a data file held by another process;
	// default 1 s.
	LockTimeout time.Duration
	// MaxLog is how many changes the change log keeps at least (it drops
	// the oldest once MaxLog/16 more have gathered); default 10000.
	MaxLog int64
	// MaxLogBytes bounds the bytes the change log holds (each change keeps
	// its value): beyond it the oldest changes are dropped too, but never
	// the last minLogKept (100, or MaxLog if less). Default 64 MiB.
	MaxLogBytes int64
	// Quota, if set, limits the keys under its prefix per space.
	Quota *Quota
	// Reserve is the free space on the data file's file system that writes
	// leave for deletes (ErrDiskFull beyond it), kept partly as a file
	// beside the data file (see reserve); default 16 MiB, or a
	// sixty-fourth of a smaller file system; negative for none.
	Reserve int64
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
	// bucketLogValues holds the log's large values, each apart (format v3).
	bucketLogValues = []byte("logvalues")

	keyFormat    = []byte("format")
	keyRev       = []byte("rev")
	keyCompacted = []byte("compacted")
	formatV1     = []byte("meshrpc-store-v1")
	formatV2     = []byte("meshrpc-store-v2") // v1 and changes made for requests
	formatV3     = []byte("meshrpc-store-v3") // v2 and large values apart from the log
)

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	inMemory bool
	maxLog   int64
	// maxLogBytes bounds the change log's bytes; logBytes is what it holds
	// (only the committer touches it).
	maxLogBytes int64
	logBytes    int64

	// quota limits the spaces; spaces is each one's usage, written by the
	// committer under spacesMu.
	quota    *Quota
	reserve  *reserve
	spacesMu sync.Mutex
	spaces   map[string]usage

	rev       atomic.Int64
	compacted atomic.Int64
	// requests: the requests whose writes were made (Store.For), to the
	// revision of each, as the change log holds them; only the committer
	// touches it.
	requests map[string]int64
	arena    arena // the committer's, for the encodings each commit writes

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
	if err != nil {
		return nil, openError(path, err)
	}
	if err := checkDB(db, path, opts.Check); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{
		db: db, path: path, inMemory: inMemory, maxLog: opts.MaxLog, maxLogBytes: opts.MaxLogBytes, quota: opts.Quota,
		queue: make(chan *op, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
		changed: make(chan struct{}), reserve: newReserve(path, opts.Reserve, inMemory, db.Info().PageSize),
	}
	if s.maxLog <= 0 {
		s.maxLog = 10000
	}
	if s.maxLogBytes <= 0 {
		s.maxLogBytes = 64 << 20
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
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
			if err := meta.Put(keyFormat, formatV3); err != nil {
				return err
			}
		} else if f := meta.Get(keyFormat); string(f) == string(formatV1) || string(f) == string(formatV2) {
			// A v1 file is a v3 file with no changes made for requests and
			// no values apart, a v2 file one with no values apart; say v3,
			// so that a meshrpc that reads only v1 or v2 refuses it from now on.
			if err := meta.Put(keyFormat, formatV3); err != nil {
				return err
			}
		} else if string(f) != string(formatV3) {
			return fmt.Errorf("store: %s has format %q; this meshrpc reads %q, %q and %q", s.path, f, formatV1, formatV2, formatV3)
		}
		for _, b := range [][]byte{bucketKV, bucketLog, bucketLogValues} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if !s.inMemory {
			s.requests = map[string]int64{}
		}
		tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			s.logBytes += changeBytes(v)
			if r, ok := requestOf(v); ok && s.requests != nil {
				s.requests[r] = revOf(k)
			}
			return nil
		})
		s.spaces = s.quota.countSpaces(tx.Bucket(bucketKV))
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
