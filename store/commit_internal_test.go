package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// An op that fails after it wrote (as a batch would if bbolt refused a
// write its checks passed) sets abort: the commit is rolled back and made
// again without it, so nothing of it is committed and the ops that shared
// its commit are, at contiguous revisions.
func TestAnOpFailingHalfMadeIsRolledBackAlone(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "kv.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	abort := errors.New("test: failed half made")
	mk := func(key string, fail bool) *op {
		return &op{writes: 1, done: make(chan struct{}), at: time.Now(), apply: func(w *writer) (any, error) {
			rev, err := w.put(key, []byte("1"))
			if fail {
				w.abort = abort
				return nil, abort
			}
			return rev, err
		}}
	}
	batch := []*op{mk("a", false), mk("b", true), mk("c", false)}
	s.commit(batch) // the committer is idle: nothing is queued
	for i, want := range []error{nil, abort, nil} {
		<-batch[i].done
		if !errors.Is(batch[i].err, want) {
			t.Errorf("op %d: %v, want %v", i, batch[i].err, want)
		}
	}
	if batch[0].res != int64(1) || batch[2].res != int64(2) || s.Rev() != 2 {
		t.Errorf("revisions %v and %v, store at %d; want 1, 2 and 2", batch[0].res, batch[2].res, s.Rev())
	}
	if _, ok, _ := s.Get("b"); ok {
		t.Error("the aborted op's write was committed")
	}
	if _, ok, _ := s.Get("c"); !ok {
		t.Error("an op after the aborted one was not committed")
	}
}
