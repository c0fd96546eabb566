package api

import (
	"encoding/json"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
	"github.com/meshrpc/meshrpc/store"
)

// The kv.* params. A key (or prefix) field carries rpc:"key" (or
// rpc:"prefix"): the node authorizes the call on it before the procedure
// runs (see rpc.Register).

// KeyParams are kv.get's and kv.delete's params.
type KeyParams struct {
	Key string `json:"key" rpc:"key"`
}

// PutParams are kv.put's params: any JSON value.
type PutParams struct {
	Key   string          `json:"key" rpc:"key"`
	Value json.RawMessage `json:"value"`
}

// Encode returns p as params ready to send, without reading Value again
// when it is valid, compact JSON: encoding/json would check and compact a
// large value once more (2 ms for 512 KiB). Pass the result to Call.
func (p PutParams) Encode() json.RawMessage {
	if valid, compact := jsonfast.Check(p.Value); valid && !compact {
		b, _ := json.Marshal(p)
		return b
	} // an invalid Value goes as it is, and the node says what is wrong
	b := make([]byte, 0, len(p.Key)+len(p.Value)+24)
	b = jsonfast.AppendString(append(b, `{"key":`...), p.Key)
	b = append(append(b, `,"value":`...), p.Value...)
	return append(b, '}')
}

// PutAllParams are kv.put_all's params: Entries written in one atomic
// write, all or none; with IfAbsent, those whose keys are absent (the
// others are left as they are). Each key is authorized as kv.put_all on
// that key alone would be; one key denied denies the call. At most
// rpc.MaxCallKeys (1000) entries and store.MaxBatchBytes (4 MiB) of keys
// and values, each key once.
type PutAllParams struct {
	Entries  []PutParams `json:"entries" rpc:"keys"`
	IfAbsent bool        `json:"if_absent,omitempty"`
}

// PutAllResult is kv.put_all's result: Written entries were written, at
// the revisions up to Rev (0: none written), and with if_absent Present
// ones were left as they were.
type PutAllResult struct {
	Rev     int64 `json:"rev"`
	Written int   `json:"written"`
	Present int   `json:"present"`
}

// ListParams are kv.list's params: the entries under Prefix whose keys
// sort after After (to page: the last key of the previous page), at most
// Limit of them (0: as many as fit) of those the caller may see. A reply
// holds at most MaxListBytes of keys and values (and at least one entry):
// a caller that wants everything pages with After until a page is empty.
type ListParams struct {
	Prefix string `json:"prefix,omitempty" rpc:"prefix"`
	Limit  int    `json:"limit,omitempty"`
	After  string `json:"after,omitempty"`
}

// MaxListBytes bounds the keys and values in one kv.list reply, each
// entry counted ListEntryBytes more for its framing.
const MaxListBytes = 4 << 20

// ListEntryBytes is what an entry of a kv.list reply takes beside its key
// and value, at most: {"key":"","value":,"rev":} and a comma, and a
// revision's 19 digits.
const ListEntryBytes = 48

// IncParams are kv.inc's params; Delta defaults to 1.
type IncParams struct {
	Key   string `json:"key" rpc:"key"`
	Delta *int64 `json:"delta,omitempty"`
}

// CASParams are kv.cas's params: Value is written only if the key's
// revision is Rev (0: only if absent).
type CASParams struct {
	Key   string          `json:"key" rpc:"key"`
	Rev   int64           `json:"rev"`
	Value json.RawMessage `json:"value"`
}

// WatchParams are kv.watch's params: the changes under Prefix after
// AfterRev (0: the oldest remembered, -1: from now), waiting up to Wait
// seconds (default 30, at most 60) for one.
type WatchParams struct {
	Prefix   string  `json:"prefix,omitempty" rpc:"prefix"`
	AfterRev int64   `json:"after_rev,omitempty"`
	Wait     float64 `json:"wait,omitempty"`
}

// Entry is one key's entry in kv.list's result.
type Entry = store.Entry

// Event is one change in kv.watch's result.
type Event = store.Event

// RevResult is the result of kv.put and kv.cas: the revision the write got.
type RevResult struct {
	Rev int64 `json:"rev"`
}

// DeleteResult is kv.delete's result: whether it removed something.
type DeleteResult struct {
	Rev     int64 `json:"rev"`
	Existed bool  `json:"existed"`
}

// WatchResult is kv.watch's result: the changes it saw and the revision to
// continue after.
type WatchResult struct {
	Events []Event `json:"events"`
	Rev    int64   `json:"rev"`
}
