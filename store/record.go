package store

import (
	"encoding/binary"
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// A key's record in the kv bucket: its revision, the revision that created
// it, then the value's JSON.
func encodeRecord(modRev, createRev int64, value []byte) []byte {
	return appendRecord(make([]byte, 0, 16+len(value)), modRev, createRev, value)
}

func appendRecord(b []byte, modRev, createRev int64, value []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(modRev))
	b = binary.BigEndian.AppendUint64(b, uint64(createRev))
	return append(b, value...)
}

// recordRevs reads a record's revisions without copying its value.
func recordRevs(b []byte) (modRev, createRev int64) {
	if len(b) < 16 {
		return 0, 0
	}
	return int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))
}

func decodeRecord(key string, b []byte) (Entry, int64) {
	if len(b) < 16 {
		return Entry{Key: key}, 0
	}
	return Entry{
		Key:   key,
		Rev:   int64(binary.BigEndian.Uint64(b)),
		Value: json.RawMessage(append([]byte(nil), b[16:]...)),
	}, int64(binary.BigEndian.Uint64(b[8:]))
}

// A change in the log bucket, keyed by its revision: type, then, for a
// write made for a request (Store.For), the request, then the key's length,
// the key and the value. A put of a value of apartBytes or more keeps its
// value apart (type 'a'): the change ends with the value's length, and the
// value is the one entry (valueKey) of a bucket of its own in the logvalues
// bucket, named by the revision. bbolt rewrites a leaf whole when an entry
// is added to it and splits a leaf only beyond four entries, so large
// values in the log's last leaf were copied and written again by every
// append (5.5 times the value per put); a value apart is written once.
const (
	logPut                = 'p'
	logDelete             = 'd'
	logPutForRequest      = 'P' // format v2
	logDelForRequest      = 'D'
	logPutApart           = 'a' // format v3
	logPutApartForRequest = 'A'
	requestLen            = 16 // a request is named by 16 bytes of its hash
	apartBytes            = 4096
)

var valueKey = []byte("v")

func revKey(rev int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(rev))
	return k[:]
}

func revOf(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

func encodeEvent(typ byte, request, key string, value []byte) []byte {
	return appendEvent(make([]byte, 0, eventSize(request, key, value)), typ, request, key, value)
}

func eventSize(request, key string, value []byte) int {
	return 1 + len(request) + binary.MaxVarintLen64 + len(key) + len(value)
}

func appendEvent(b []byte, typ byte, request, key string, value []byte) []byte {
	if request != "" {
		typ -= 'p' - 'P' // the upper-case type
	}
	b = append(b, typ)
	b = append(b, request...)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

// appendApartEvent appends a put's change whose value, of size bytes, is
// kept apart.
func appendApartEvent(b []byte, request, key string, size int) []byte {
	b = appendEvent(b, logPutApart, request, key, nil)
	return binary.AppendUvarint(b, uint64(size))
}

// decodeEvent reads the change at rev; values is the logvalues bucket,
// which holds the values kept apart. With values nil, a change whose value
// is apart is read without it (Value nil), as Salvage, which finds the
// values on its own, does.
func decodeEvent(rev int64, b []byte, values *bolt.Bucket) (Event, bool) {
	if len(b) < 2 {
		return Event{}, false
	}
	typ, rest := b[0], b[1:]
	if typ == logPutForRequest || typ == logDelForRequest || typ == logPutApartForRequest {
		if len(rest) < requestLen+1 {
			return Event{}, false
		}
		typ, rest = typ+('p'-'P'), rest[requestLen:]
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) < n {
		return Event{}, false
	}
	e := Event{Rev: rev, Key: string(rest[w : w+int(n)]), Type: EventPut}
	switch typ {
	case logDelete:
		e.Type = EventDelete
	case logPutApart:
		size, sw := binary.Uvarint(rest[w+int(n):])
		if sw <= 0 {
			return Event{}, false
		}
		if values == nil {
			return e, true
		}
		v := apartValue(values, rev)
		if v == nil || uint64(len(v)) != size {
			return Event{}, false
		}
		e.Value = json.RawMessage(append([]byte(nil), v...))
	default:
		e.Value = json.RawMessage(append([]byte(nil), rest[w+int(n):]...))
	}
	return e, true
}

// apartValue is the value kept apart for the change at rev, or nil.
func apartValue(values *bolt.Bucket, rev int64) []byte {
	if values == nil {
		return nil
	}
	if b := values.Bucket(revKey(rev)); b != nil {
		return b.Get(valueKey)
	}
	return nil
}

// isApart says whether change b keeps its value apart.
func isApart(b []byte) bool {
	return len(b) > 0 && (b[0] == logPutApart || b[0] == logPutApartForRequest)
}

// changeBytes is what change b holds in the log: its own bytes, and its
// value's when the value is kept apart.
func changeBytes(b []byte) int64 {
	n := int64(len(b))
	if !isApart(b) {
		return n
	}
	rest := b[1:]
	if b[0] == logPutApartForRequest {
		rest = rest[min(requestLen, len(rest)):]
	}
	if k, w := binary.Uvarint(rest); w > 0 && uint64(len(rest)-w) >= k {
		size, _ := binary.Uvarint(rest[w+int(k):])
		n += int64(size)
	}
	return n
}

// requestOf is the request a change was made for, if any.
func requestOf(b []byte) (string, bool) {
	if len(b) < 1+requestLen || (b[0] != logPutForRequest && b[0] != logDelForRequest && b[0] != logPutApartForRequest) {
		return "", false
	}
	return string(b[1 : 1+requestLen]), true
}

// arena is the committer's memory for the records and changes a commit
// hands bbolt, which keeps the slices (it does not copy them) until the
// commit ends: reused from one commit to the next, a large value's two
// encodings cost no allocation, no zeroing and no page faults of fresh
// memory. Only the committer uses it.
type arena struct {
	chunk []byte
	used  int
}

// maxArenaKept bounds what the arena keeps between commits: enough for
// the record and the change of the largest value.
const maxArenaKept = 8 * MaxValueBytes

// take returns an empty slice with room for n bytes, valid until reset.
func (a *arena) take(n int) []byte {
	if cap(a.chunk)-a.used < n {
		// Slices already taken keep the old chunk alive until the commit ends.
		a.chunk, a.used = make([]byte, max(n, 2*cap(a.chunk))), 0
	}
	b := a.chunk[a.used : a.used : a.used+n]
	a.used += n
	return b
}

// reset makes the arena's memory free for the next commit: call it only
// when nothing taken from it is used any more (bbolt's transaction ended).
func (a *arena) reset() *arena {
	a.used = 0
	if cap(a.chunk) > maxArenaKept {
		a.chunk = nil
	}
	return a
}
