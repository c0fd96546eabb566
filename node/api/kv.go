package api

import "github.com/meshrpc/meshrpc/store"

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
