package store

import (
	"encoding/binary"
	"encoding/json"
)

// A key's record in the kv bucket: its revision, the revision that created
// it, then the value's JSON.
func encodeRecord(modRev, createRev int64, value []byte) []byte {
	b := make([]byte, 16+len(value))
	binary.BigEndian.PutUint64(b, uint64(modRev))
	binary.BigEndian.PutUint64(b[8:], uint64(createRev))
	copy(b[16:], value)
	return b
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

// A change in the log bucket, keyed by its revision: type, key, value.
const (
	logPut    = 'p'
	logDelete = 'd'
)

func revKey(rev int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(rev))
	return k[:]
}

func revOf(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

func encodeEvent(typ byte, key string, value []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(key)+len(value))
	b = append(b, typ)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

func decodeEvent(rev int64, b []byte) (Event, bool) {
	if len(b) < 2 {
		return Event{}, false
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || uint64(len(b)-1-w) < n {
		return Event{}, false
	}
	e := Event{Rev: rev, Key: string(b[1+w : 1+w+int(n)]), Type: EventPut}
	if b[0] == logDelete {
		e.Type = EventDelete
	} else {
		e.Value = json.RawMessage(append([]byte(nil), b[1+w+int(n):]...))
	}
	return e, true
}
