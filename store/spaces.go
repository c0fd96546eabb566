package store

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Quota limits the keys under Prefix, charged to spaces: a key
// Prefix+NAME+"/..." belongs to the space NAME (node's personal spaces are
// "~LOGIN/..."). A write that would take a space past Bytes (keys and
// values) or Keys fails with a *QuotaError before it is made; deletes
// always succeed. The usage is counted from the file at open and kept
// with every commit, so it is exact across restarts.
type Quota struct {
	Prefix string
	Bytes  int64 // 0: no limit
	Keys   int64 // 0: no limit
}

// QuotaError is a write refused because its space is full.
type QuotaError struct {
	Space       string
	Bytes, Keys int64 // the space's usage now
	LimitBytes  int64
	LimitKeys   int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("store: quota: the space %q holds %d keys and %d bytes, and its limit is %d keys and %d bytes; delete some of its keys first",
		e.Space, e.Keys, e.Bytes, e.LimitKeys, e.LimitBytes)
}

// Is makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// usage is what a space holds.
type usage struct{ bytes, keys int64 }

// spaceOf is the space key is charged to, or "".
func (q *Quota) spaceOf(key string) string {
	if q == nil || q.Prefix == "" || !strings.HasPrefix(key, q.Prefix) {
		return ""
	}
	name, _, ok := strings.Cut(key[len(q.Prefix):], "/")
	if !ok {
		return ""
	}
	return name
}

// countSpaces counts every space's usage from the kv bucket.
func (q *Quota) countSpaces(kv *bolt.Bucket) map[string]usage {
	spaces := map[string]usage{}
	if q == nil || q.Prefix == "" {
		return spaces
	}
	c := kv.Cursor()
	p := []byte(q.Prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if sp := q.spaceOf(string(k)); sp != "" {
			u := spaces[sp]
			u.bytes += recordSize(k, v)
			u.keys++
			spaces[sp] = u
		}
	}
	return spaces
}

// recordSize is what a key charges its space: its key and its value.
func recordSize(key, record []byte) int64 { return int64(len(key) + max(len(record)-16, 0)) }

// charge accounts, inside the commit, for key going from its record old
// (nil: absent) to a value of newValue bytes (-1: deleted), refusing a
// write that takes its space past the quota. Deltas are kept in the
// writer until the commit is durable.
func (w *writer) charge(key string, old []byte, newValue int) error {
	sp := w.quota.spaceOf(key)
	if sp == "" {
		return nil
	}
	var d usage
	if old != nil {
		d.bytes -= recordSize([]byte(key), old)
		d.keys--
	}
	if newValue >= 0 {
		d.bytes += int64(len(key) + newValue)
		d.keys++
	}
	cur := w.spaces[sp]
	cur.bytes += w.deltas[sp].bytes
	cur.keys += w.deltas[sp].keys
	q := w.quota
	grows := d.bytes > 0 || d.keys > 0
	if grows && ((q.Bytes > 0 && cur.bytes+d.bytes > q.Bytes) || (q.Keys > 0 && cur.keys+d.keys > q.Keys)) {
		return &QuotaError{Space: sp, Bytes: cur.bytes, Keys: cur.keys, LimitBytes: q.Bytes, LimitKeys: q.Keys}
	}
	if w.deltas == nil {
		w.deltas = map[string]usage{}
	}
	w.deltas[sp] = usage{w.deltas[sp].bytes + d.bytes, w.deltas[sp].keys + d.keys}
	return nil
}

// applyDeltas adds a durable commit's deltas to the spaces' usage.
func (s *Store) applyDeltas(deltas map[string]usage) {
	for sp, d := range deltas {
		u := s.spaces[sp]
		u.bytes += d.bytes
		u.keys += d.keys
		if u.keys <= 0 {
			delete(s.spaces, sp)
		} else {
			s.spaces[sp] = u
		}
	}
}

// Usage is what the space named space holds: bytes of keys and values, and
// keys.
func (s *Store) Usage(space string) (bytes, keys int64) {
	s.spacesMu.Lock()
	defer s.spacesMu.Unlock()
	u := s.spaces[space]
	return u.bytes, u.keys
}
