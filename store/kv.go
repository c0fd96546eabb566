package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
	bolt "go.etcd.io/bbolt"
)

// Limits on keys and values.
const (
	MaxKeyBytes   = 1024
	MaxValueBytes = 512 << 10
)

// Entry is a key, its value and the revision of its last write.
type Entry struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Rev   int64           `json:"rev"`
}

// Get returns key's entry; ok is false when the key is absent.
func (s *Store) Get(key string) (e Entry, ok bool, err error) {
	if err := checkKey(key); err != nil {
		return Entry{}, false, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketKV).Get([]byte(key)); b != nil {
			e, _ = decodeRecord(key, b)
			ok = true
		}
		return nil
	})
	return e, ok, err
}

// List returns up to limit entries (0: no limit) whose keys begin with
// prefix, in key order.
func (s *Store) List(prefix string, limit int) ([]Entry, error) {
	entries := []Entry{}
	err := s.Range(prefix, "", func(e Entry) bool {
		entries = append(entries, e)
		return limit <= 0 || len(entries) < limit
	})
	return entries, err
}

// Range calls fn with each entry whose key begins with prefix and sorts
// after after ("": from the first), in key order, until fn returns false.
// It reads one snapshot: writes made meanwhile are not seen. Paging with
// after, the last key seen, reads a store of any size in bounded memory.
func (s *Store) Range(prefix, after string, fn func(Entry) bool) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		start := p
		if after > prefix {
			start = []byte(after)
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if after != "" && string(k) == after {
				continue
			}
			e, _ := decodeRecord(string(k), v)
			if !fn(e) {
				break
			}
		}
		return nil
	})
}

// Put sets key to value (valid JSON) and returns the write's revision.
func (s *Store) Put(key string, value json.RawMessage) (int64, error) {
	return s.For("").Put(key, value)
}

// Delete removes key. It returns the write's revision and whether the key
// existed; deleting an absent key writes nothing.
func (s *Store) Delete(key string) (rev int64, existed bool, err error) {
	return s.For("").Delete(key)
}

// Inc adds delta to the integer at key (absent counts as 0) atomically and
// returns the new value and the write's revision.
func (s *Store) Inc(key string, delta int64) (value, rev int64, err error) {
	return s.For("").Inc(key, delta)
}

// CAS sets key to value only if key's revision is rev (0: only if absent).
// A mismatch returns a *ConflictError (errors.Is ErrConflict) with the
// current revision.
func (s *Store) CAS(key string, rev int64, value json.RawMessage) (int64, error) {
	return s.For("").CAS(key, rev, value)
}

// Writes are the store's writes made for one request; see Store.For.
type Writes struct {
	s       *Store
	request string
}

// For returns the writes made for the request named request (a client's
// retries of a call carry the same name; "" names none). A write is made
// once for a request: asked again, as when a client retries a call whose
// reply was lost, it is not made again but answered with the first write's
// result, in the same transaction that would have made it, so also after a
// crash and a restart, for as long as the change log holds the first write
// (Options.MaxLog changes). A write that changed nothing (a failed CAS, a
// delete of an absent key) is not remembered. An in-memory store remembers
// nothing: it does not outlive the process.
func (s *Store) For(request string) Writes {
	if request == "" || s.inMemory {
		return Writes{s: s}
	}
	sum := sha256.Sum256([]byte(request)) // fixed size, whatever the client chose
	return Writes{s: s, request: string(sum[:requestLen])}
}

// Put is Store.Put, made once for the request.
func (ws Writes) Put(key string, value json.RawMessage) (int64, error) {
	v, err := checkValue(key, value)
	if err != nil {
		return 0, err
	}
	done, err := ws.s.admit(len(key) + len(v))
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := ws.write(func(w *writer) (any, error) {
		return w.put(key, v)
	}, replayRev)
	return intOf(res), err
}

// Delete is Store.Delete, made once for the request.
func (ws Writes) Delete(key string) (rev int64, existed bool, err error) {
	if err := checkKey(key); err != nil {
		return 0, false, err
	}
	ws.s.reserve.makeRoom()
	res, err := ws.write(func(w *writer) (any, error) {
		old := w.kv.Get([]byte(key))
		if old == nil {
			return int64(0), nil
		}
		if err := w.charge(key, old, -1); err != nil {
			return nil, err
		}
		w.rev++
		if err := w.kv.Delete([]byte(key)); err != nil {
			return nil, err
		}
		return w.rev, w.logChange(encodeEvent(logDelete, w.request, key, nil))
	}, replayRev)
	rev = intOf(res)
	return rev, rev != 0, err
}

type incResult struct{ value, rev int64 }

// Inc is Store.Inc, made once for the request.
func (ws Writes) Inc(key string, delta int64) (value, rev int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, 0, err
	}
	done, err := ws.s.admit(len(key) + 20)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	res, err := ws.write(func(w *writer) (any, error) {
		var cur int64
		if b := w.kv.Get([]byte(key)); b != nil {
			e, _ := decodeRecord(key, b)
			n, err := strconv.ParseInt(string(e.Value), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: %q holds %s", ErrNotInteger, key, shorten(e.Value))
			}
			cur = n
		}
		if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
			return nil, fmt.Errorf("%w: %d + %d does not fit in 64 bits", ErrOverflow, cur, delta)
		}
		cur += delta
		rev, err := w.put(key, strconv.AppendInt(nil, cur, 10))
		return incResult{cur, rev}, err
	}, replayInc)
	if err != nil {
		return 0, 0, err
	}
	r := res.(incResult)
	return r.value, r.rev, nil
}

// CAS is Store.CAS, made once for the request: asked again after it
// succeeded, it answers with its revision, not with a conflict with itself.
func (ws Writes) CAS(key string, rev int64, value json.RawMessage) (int64, error) {
	v, err := checkValue(key, value)
	if err != nil {
		return 0, err
	}
	done, err := ws.s.admit(len(key) + len(v))
	if err != nil {
		return 0, err
	}
	defer done()
	res, err := ws.write(func(w *writer) (any, error) {
		cur, _ := recordRevs(w.kv.Get([]byte(key))) // 0 when absent
		if cur != rev {
			return nil, &ConflictError{Key: key, Expected: rev, Current: cur}
		}
		return w.put(key, v)
	}, replayRev)
	return intOf(res), err
}

// replayRev is the result of a put, delete or CAS made first at rev.
func replayRev(_ *writer, rev int64) (any, error) { return rev, nil }

// replayInc is the result of an increment made first at rev: the value it
// wrote, as the change log holds it.
func replayInc(w *writer, rev int64) (any, error) {
	e, ok := decodeEvent(rev, w.log.Get(revKey(rev)), w.tx.Bucket(bucketLogValues))
	n, err := strconv.ParseInt(string(e.Value), 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("store: the first attempt of this increment (revision %d) is no longer in the change log", rev)
	}
	return incResult{n, rev}, nil
}

// put writes key inside the commit, keeping its create revision.
func (w *writer) put(key string, value []byte) (int64, error) {
	old := w.kv.Get([]byte(key))
	if err := w.charge(key, old, len(value)); err != nil {
		return 0, err
	}
	w.rev++
	createRev := w.rev
	if old != nil {
		_, createRev = recordRevs(old)
	}
	record := appendRecord(w.arena.take(16+len(value)), w.rev, createRev, value)
	if err := w.kv.Put([]byte(key), record); err != nil {
		return 0, err
	}
	if len(value) >= apartBytes {
		return w.rev, w.logApart(key, value)
	}
	change := w.arena.take(eventSize(w.request, key, value))
	return w.rev, w.logChange(appendEvent(change, logPut, w.request, key, value))
}

// logApart logs the put of key made at w.rev with its value kept apart,
// written once into pages of its own (see logPutApart).
func (w *writer) logApart(key string, value []byte) error {
	b, err := w.tx.Bucket(bucketLogValues).CreateBucket(revKey(w.rev))
	if err != nil {
		return err
	}
	if err := b.Put(valueKey, value); err != nil {
		return err
	}
	w.logBytes += int64(len(value))
	change := w.arena.take(eventSize(w.request, key, nil) + binary.MaxVarintLen64)
	return w.logChange(appendApartEvent(change, w.request, key, len(value)))
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	err := s.guard(func() error { return s.db.View(fn) })
	if err != nil && s.closed.Load() {
		return ErrClosed
	}
	return err
}

func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: keys are 1 to %d bytes", ErrEmptyKey, MaxKeyBytes)
	}
	return checkText(key)
}

func checkText(key string) error {
	switch {
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: key of %d bytes, the limit is %d", ErrTooLarge, len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// CheckKey returns an error when a caller's key cannot name a value: keys
// are 1 to MaxKeyBytes bytes of UTF-8 without control characters. A node
// checks every key a caller sends before the key is authorized, used or
// quoted in a message.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: keys are 1 to %d bytes", ErrEmptyKey, MaxKeyBytes)
	}
	return CheckPrefix(key)
}

// CheckPrefix is CheckKey for a prefix, which may be empty (every key).
func CheckPrefix(prefix string) error {
	if err := checkText(prefix); err != nil {
		return err
	}
	if i := strings.IndexFunc(prefix, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%w: a control character at byte %d; keys are text without control characters", ErrInvalidKey, i)
	}
	return nil
}

// checkValue validates key and value and returns the value compacted.
func checkValue(key string, value json.RawMessage) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if len(value) > MaxValueBytes {
		return nil, fmt.Errorf("%w: value of %d bytes for %q, the limit is %d", ErrTooLarge, len(value), key, MaxValueBytes)
	}
	valid, compact := jsonfast.Check(value)
	if !valid {
		return nil, fmt.Errorf("%w: %s", ErrInvalidJSON, shorten(value))
	}
	if compact { // as almost every value arrives: stored as its bytes
		return value, nil
	}
	var buf bytes.Buffer
	json.Compact(&buf, value)
	return buf.Bytes(), nil
}

func shorten(b []byte) string {
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}

func intOf(v any) int64 {
	n, _ := v.(int64)
	return n
}
