package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// salvageFile is the new store Salvage writes: a temporary file beside its
// final name until it is complete and checked.
type salvageFile struct {
	db       *bolt.DB
	tmp, to  string
	pending  []salvaged
	bytes    int
	maxRev   int64
	keys     int
	fromLog  map[string]bool
	finished bool
	err      error // the first write that failed
}

type salvaged struct {
	key   string
	value []byte // the kv bucket's record
}

// salvageBatch bounds the entries Salvage holds before it writes them.
const salvageBatch = 8 << 20

func createSalvage(to string) (*salvageFile, error) {
	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	tmp.Close()
	// Unsynced while it is written; synced once, before it is checked.
	db, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	out := &salvageFile{db: db, tmp: tmp.Name(), to: to, fromLog: map[string]bool{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketKV, bucketLog, bucketLogValues} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, formatV3)
	})
	if err != nil {
		out.abandon()
		return nil, fmt.Errorf("store: salvage: %w", err)
	}
	return out, nil
}

// add queues a record found for key; of two records of a key, the newer
// stays.
func (o *salvageFile) add(key string, record []byte) {
	o.pending = append(o.pending, salvaged{key, append([]byte(nil), record...)})
	o.bytes += len(key) + len(record)
	if o.bytes >= salvageBatch {
		o.flush() // an error stays in o.err
	}
}

// flush writes the queued records. An error here is the new file's (the
// disk beside the damaged store), not the damage's.
func (o *salvageFile) flush() error {
	if o.err != nil || len(o.pending) == 0 {
		return o.err
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		kv := tx.Bucket(bucketKV)
		for _, r := range o.pending {
			mod := int64(binary.BigEndian.Uint64(r.value))
			if cur := kv.Get([]byte(r.key)); cur != nil && int64(binary.BigEndian.Uint64(cur)) >= mod {
				continue
			}
			if err := kv.Put([]byte(r.key), r.value); err != nil {
				return err
			}
			o.maxRev = max(o.maxRev, mod)
		}
		return nil
	})
	o.pending, o.bytes = o.pending[:0], 0
	if err != nil {
		o.err = fmt.Errorf("store: salvage: writing %s: %w", o.tmp, err)
	}
	return o.err
}

// finish replays the change log's newer changes, writes the revision,
// syncs and checks the file, and puts it in place. The change log stays
// empty, compacted at the revision: watchers re-list.
func (o *salvageFile) finish(s *salvager) (rev int64, err error) {
	if err := o.flush(); err != nil {
		return 0, err
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		var err error
		rev, err = o.applyLog(tx, s)
		return err
	})
	if err == nil {
		err = o.db.View(func(tx *bolt.Tx) error {
			kv := tx.Bucket(bucketKV)
			o.keys = kv.Stats().KeyN
			for _, r := range s.lostPages {
				if !o.holdsKeyFromAPage(kv, r) {
					s.info.UnreadablePages++
				}
			}
			return nil
		})
	}
	if err == nil {
		err = o.db.Sync()
	}
	if cerr := o.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("store: salvage: writing %s: %w", o.tmp, err)
	}
	s.info.FromLog = len(o.fromLog)
	if err := Check(o.tmp); err != nil {
		return 0, fmt.Errorf("store: salvage: the new file does not check: %w", err)
	}
	// Link, not rename: it fails rather than replace a file made meanwhile.
	if err := os.Link(o.tmp, o.to); err != nil {
		return 0, fmt.Errorf("store: salvage: %w", err)
	}
	o.finished = true
	os.Remove(o.tmp)
	return rev, syncDir(filepath.Dir(o.to))
}

// applyLog writes the change log's newer changes over what the pages gave,
// and the store's revision, in tx.
func (o *salvageFile) applyLog(tx *bolt.Tx, s *salvager) (rev int64, err error) {
	kv := tx.Bucket(bucketKV)
	for _, ev := range s.sortedEvents() {
		cur := kv.Get([]byte(ev.Key))
		if cur != nil && int64(binary.BigEndian.Uint64(cur)) >= ev.Rev {
			continue
		}
		o.maxRev = max(o.maxRev, ev.Rev)
		if ev.Type == EventPut && ev.Value == nil {
			// A newer write whose value was lost: an older value must not
			// stand for it.
			s.lostKeys[ev.Key] = true
			delete(o.fromLog, ev.Key)
			if err := kv.Delete([]byte(ev.Key)); err != nil {
				return 0, err
			}
			continue
		}
		if ev.Type == EventDelete {
			delete(o.fromLog, ev.Key)
			if err := kv.Delete([]byte(ev.Key)); err != nil {
				return 0, err
			}
			continue
		}
		create := ev.Rev
		if cur != nil {
			create = int64(binary.BigEndian.Uint64(cur[8:]))
		}
		if err := kv.Put([]byte(ev.Key), encodeRecord(ev.Rev, create, ev.Value)); err != nil {
			return 0, err
		}
		o.fromLog[ev.Key] = true
		delete(s.lostKeys, ev.Key)
	}
	rev = max(o.maxRev, s.metaRev)
	meta := tx.Bucket(bucketMeta)
	if err := putInt(meta, keyRev, rev); err != nil {
		return 0, err
	}
	return rev, putInt(meta, keyCompacted, rev)
}

// holdsKeyFromAPage says whether the new store has a key in r that was
// read from a page (not the change log): a page that could not be read
// but whose keys are found elsewhere was a branch page over them.
func (o *salvageFile) holdsKeyFromAPage(kv *bolt.Bucket, r keyRange) bool {
	c := kv.Cursor()
	k, _ := c.First()
	if r.lo != nil {
		k, _ = c.Seek(r.lo)
	}
	for ; k != nil && (r.hi == nil || bytes.Compare(k, r.hi) < 0); k, _ = c.Next() {
		if !o.fromLog[string(k)] {
			return true
		}
	}
	return false
}

// abandon removes the unfinished file.
func (o *salvageFile) abandon() {
	o.db.Close()
	if !o.finished {
		os.Remove(o.tmp)
	}
}
