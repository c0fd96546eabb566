package store

import (
	"bytes"
	"context"
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// Event types.
const (
	EventPut    = "put"
	EventDelete = "delete"
)

// Event is one change: a put (with the new value) or a delete.
type Event struct {
	Type  string          `json:"type"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
	Rev   int64           `json:"rev"`
}

// maxWatchEvents and MaxWatchBytes bound one Watch answer, in changes and
// in bytes of keys and values (but it holds at least one change); the
// caller asks again after the last revision it got, so nothing is lost.
const (
	maxWatchEvents = 1000
	MaxWatchBytes  = 4 << 20
)

// Watch returns the changes to keys beginning with prefix after revision
// afterRev, in revision order. When there are none yet it waits for one, or
// for ctx to end (then it returns none and no error). Every change is seen
// exactly once by a watcher that continues after the last revision it got.
// afterRev 0 means every change the log still holds, however much it has
// dropped. Another revision the log no longer holds gives a
// *CompactedError (errors.Is ErrCompacted) with the store's revision.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev int64) ([]Event, error) {
	for {
		changed := s.changedChan() // before reading, so no commit slips between
		if changed == nil {
			return nil, ErrClosed
		}
		events, seen, err := s.changesAfter(prefix, afterRev)
		if err != nil || len(events) > 0 {
			return events, err
		}
		afterRev = seen // changes up to seen exist, none under prefix
		select {
		case <-changed:
		case <-ctx.Done():
			return []Event{}, nil
		}
	}
}

// changesAfter reads the changes after afterRev under prefix, and the
// revision the read saw the store at.
func (s *Store) changesAfter(prefix string, afterRev int64) ([]Event, int64, error) {
	compacted := s.compacted.Load()
	if afterRev == 0 {
		afterRev = compacted // from the oldest change remembered
	}
	if afterRev < compacted {
		return nil, 0, &CompactedError{After: afterRev, Compacted: compacted, Current: s.Rev()}
	}
	var events []Event
	size := 0
	seen := afterRev
	err := s.view(func(tx *bolt.Tx) error {
		seen = max(seen, getInt(tx.Bucket(bucketMeta), keyRev))
		c := tx.Bucket(bucketLog).Cursor()
		values := tx.Bucket(bucketLogValues)
		p := []byte(prefix)
		for k, v := c.Seek(revKey(afterRev + 1)); k != nil; k, v = c.Next() {
			e, ok := decodeEvent(revOf(k), v, values)
			if !ok || !bytes.HasPrefix([]byte(e.Key), p) {
				continue
			}
			if size += len(e.Key) + len(e.Value); len(events) > 0 && size > MaxWatchBytes {
				break
			}
			events = append(events, e)
			if len(events) == maxWatchEvents {
				break
			}
		}
		return nil
	})
	return events, seen, err
}

func (s *Store) changedChan() chan struct{} {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	return s.changed
}

func (s *Store) notifyWatchers() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}
