package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// Limits on one PutAll: its keys, and the bytes of its keys and values.
const (
	MaxBatchKeys  = 1000
	MaxBatchBytes = 4 << 20
)

// KeyValue is one key and the value to write there.
type KeyValue struct {
	Key   string
	Value json.RawMessage
}

// PutAllResult is what a PutAll wrote: Written entries, at the revisions
// up to Rev (0 when it wrote none), and, with ifAbsent, Present entries
// whose keys were present and were left as they were.
type PutAllResult struct {
	Rev     int64
	Written int
	Present int
}

// PutAll sets each entry's key to its value (valid JSON) in one atomic
// write: all of them, each with its own revision in the entries' order,
// or, when anything refuses the batch (a key or value that is invalid or
// too large, a key given twice, a space's quota, the disk's reserve), none.
// With ifAbsent, entries whose keys are present are left out and the rest
// are written. A batch holds at most MaxBatchKeys entries and MaxBatchBytes
// of keys and values.
func (s *Store) PutAll(entries []KeyValue, ifAbsent bool) (PutAllResult, error) {
	return s.For("").PutAll(entries, ifAbsent)
}

// PutAll is Store.PutAll, made once for the request: asked again, it
// answers with the first batch's result while the change log holds the
// batch's last change (see Store.For).
func (ws Writes) PutAll(entries []KeyValue, ifAbsent bool) (PutAllResult, error) {
	values, size, err := checkBatch(entries)
	if err != nil {
		return PutAllResult{}, err
	}
	done, err := ws.s.admit(size)
	if err != nil {
		return PutAllResult{}, err
	}
	defer done()
	request := ws.request
	res, err := ws.writeWeighed(len(entries), func(w *writer) (any, error) {
		return w.putAll(entries, values, ifAbsent)
	}, func(w *writer, rev int64) (any, error) {
		return replayBatch(w, request, rev, len(entries), ifAbsent), nil
	})
	r, _ := res.(PutAllResult)
	return r, err
}

// checkBatch validates a batch before it is queued: each key and value, no
// key twice, and the limits. It returns the values compacted and the bytes
// of keys and values.
func checkBatch(entries []KeyValue) ([][]byte, int, error) {
	if len(entries) > MaxBatchKeys {
		return nil, 0, fmt.Errorf("%w: a batch of %d entries, the limit is %d", ErrTooLarge, len(entries), MaxBatchKeys)
	}
	values := make([][]byte, len(entries))
	seen := make(map[string]bool, len(entries))
	size := 0
	for i, e := range entries {
		v, err := checkValue(e.Key, e.Value)
		if err != nil {
			return nil, 0, fmt.Errorf("entry %d: %w", i, err)
		}
		if seen[e.Key] {
			return nil, 0, fmt.Errorf("%w: entry %d: %q is given twice; a batch writes each key once", ErrInvalidKey, i, e.Key)
		}
		seen[e.Key] = true
		values[i] = v
		if size += len(e.Key) + len(v); size > MaxBatchBytes {
			return nil, 0, fmt.Errorf("%w: a batch of more than %d bytes of keys and values (at entry %d), the limit", ErrTooLarge, MaxBatchBytes, i)
		}
	}
	return values, size, nil
}

// putAll makes a batch inside the commit. It first decides, writing
// nothing, which entries it writes and that the quota takes them all; only
// then does it write. Every refusal comes before the first write, so a
// refused batch leaves the transaction as it found it; a write that fails
// after that (bbolt refusing what was checked) aborts the whole commit.
func (w *writer) putAll(entries []KeyValue, values [][]byte, ifAbsent bool) (any, error) {
	write := make([]bool, len(entries))
	saved := maps.Clone(w.deltas)
	res := PutAllResult{}
	for i, e := range entries {
		old := w.kv.Get([]byte(e.Key))
		if ifAbsent && old != nil {
			res.Present++
			continue
		}
		if err := w.charge(e.Key, old, len(values[i])); err != nil {
			w.deltas = saved
			var qe *QuotaError
			if errors.As(err, &qe) { // the space's usage without this batch
				u, d := w.spaces[qe.Space], saved[qe.Space]
				qe.Bytes, qe.Keys = u.bytes+d.bytes, u.keys+d.keys
			}
			return nil, fmt.Errorf("entry %d (%q): %w", i, e.Key, err)
		}
		write[i] = true
	}
	w.deltas = saved // charged again below, as each write is made
	for i, e := range entries {
		if !write[i] {
			continue
		}
		rev, err := w.put(e.Key, values[i])
		if err != nil {
			w.abort = fmt.Errorf("store: a batch failed after its checks, at %q: %w", e.Key, err)
			return nil, w.abort
		}
		res.Rev = rev
		res.Written++
	}
	return res, nil
}

// replayBatch is the result of a batch made first for request, whose last
// change is at rev: its changes are the ones before rev, back to the first
// made for another request.
func replayBatch(w *writer, request string, rev int64, entries int, ifAbsent bool) PutAllResult {
	res := PutAllResult{Rev: rev}
	c := w.log.Cursor()
	for k, v := c.Seek(revKey(rev)); k != nil && res.Written < entries; k, v = c.Prev() {
		if r, ok := requestOf(v); !ok || r != request {
			break
		}
		res.Written++
	}
	if ifAbsent {
		res.Present = entries - res.Written
	}
	return res
}
