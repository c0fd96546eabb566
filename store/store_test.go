package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/store"
)

func openTemp(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestOperations(t *testing.T) {
	s, _ := openTemp(t)
	if _, ok, err := s.Get("a"); ok || err != nil {
		t.Fatalf("Get of an absent key: ok=%v err=%v", ok, err)
	}
	rev, err := s.Put("a", json.RawMessage(` { "x" : [1, 2] } `))
	if err != nil || rev != 1 {
		t.Fatalf("Put: rev %d, %v", rev, err)
	}
	e, ok, err := s.Get("a")
	if !ok || err != nil || string(e.Value) != `{"x":[1,2]}` || e.Rev != 1 {
		t.Fatalf("Get: %+v %v %v", e, ok, err)
	}
	if v, rev, err := s.Inc("n", 5); v != 5 || rev != 2 || err != nil {
		t.Fatalf("Inc of absent key: %d rev %d %v", v, rev, err)
	}
	if v, _, err := s.Inc("n", -7); v != -2 || err != nil {
		t.Fatalf("Inc by -7: %d %v", v, err)
	}
	s.Put("b/1", json.RawMessage(`"one"`))
	s.Put("b/2", json.RawMessage(`"two"`))
	s.Put("c", json.RawMessage(`null`))
	list, err := s.List("b/", 0)
	if err != nil || len(list) != 2 || list[0].Key != "b/1" || list[1].Key != "b/2" {
		t.Fatalf("List b/: %+v %v", list, err)
	}
	if list, _ := s.List("", 2); len(list) != 2 || list[0].Key != "a" {
		t.Fatalf("List with limit: %+v", list)
	}
	rev, existed, err := s.Delete("b/1")
	if !existed || err != nil || rev != s.Rev() {
		t.Fatalf("Delete: rev %d existed %v %v", rev, existed, err)
	}
	if _, existed, _ := s.Delete("b/1"); existed {
		t.Fatal("Delete of an absent key says it existed")
	}
}

func TestCAS(t *testing.T) {
	s, _ := openTemp(t)
	rev, err := s.CAS("k", 0, json.RawMessage(`1`))
	if err != nil {
		t.Fatalf("CAS on absent with rev 0: %v", err)
	}
	_, err = s.CAS("k", 0, json.RawMessage(`2`))
	var ce *store.ConflictError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &ce) || ce.Current != rev {
		t.Fatalf("CAS expecting absent on a present key: %v; want conflict with current %d", err, rev)
	}
	if _, err := s.CAS("k", rev, json.RawMessage(`3`)); err != nil {
		t.Fatalf("CAS with the right rev: %v", err)
	}
	if e, _, _ := s.Get("k"); string(e.Value) != "3" {
		t.Fatalf("after CAS: %s", e.Value)
	}
}

func TestBadInput(t *testing.T) {
	s, _ := openTemp(t)
	s.Put("s", json.RawMessage(`"text"`))
	s.Put("f", json.RawMessage(`1.5`))
	s.Put("max", json.RawMessage(`9223372036854775807`))
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"inc on a string", second(s.Inc("s", 1)), store.ErrNotInteger},
		{"inc on a float", second(s.Inc("f", 1)), store.ErrNotInteger},
		{"inc overflow", second(s.Inc("max", 1)), store.ErrOverflow},
		{"empty key", first(s.Put("", json.RawMessage(`1`))), store.ErrEmptyKey},
		{"huge key", first(s.Put(strings.Repeat("k", store.MaxKeyBytes+1), json.RawMessage(`1`))), store.ErrTooLarge},
		{"huge value", first(s.Put("k", json.RawMessage(`"`+strings.Repeat("v", store.MaxValueBytes)+`"`))), store.ErrTooLarge},
		{"invalid JSON", first(s.Put("k", json.RawMessage(`{nope`))), store.ErrInvalidJSON},
		{"empty value", first(s.Put("k", json.RawMessage(``))), store.ErrInvalidJSON},
		{"non-UTF-8 key", first(s.Put("\xff", json.RawMessage(`1`))), store.ErrInvalidKey},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	// A failed write leaves nothing behind and the store works on.
	if e, _, _ := s.Get("max"); string(e.Value) != "9223372036854775807" {
		t.Fatalf("after overflow: %s", e.Value)
	}
	if v, _, err := s.Inc("max", -1); err != nil || v != math.MaxInt64-1 {
		t.Fatalf("after failures: %d %v", v, err)
	}
}

func first(_ int64, err error) error           { return err }
func second(_ int64, _ int64, err error) error { return err }

func TestReopenKeepsDataAndRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Put("a", json.RawMessage(`"x"`))
	s.Inc("n", 3)
	rev := s.Rev()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Put("a", json.RawMessage(`1`)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	s, err = store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Rev() != rev {
		t.Fatalf("revision after reopen %d, want %d", s.Rev(), rev)
	}
	if e, ok, _ := s.Get("a"); !ok || string(e.Value) != `"x"` {
		t.Fatalf("value after reopen: %+v", e)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("data file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestConcurrentIncrementsAreExact(t *testing.T) {
	s, _ := openTemp(t)
	const writers, each = 32, 200
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if _, _, err := s.Inc("counter", 1); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	e, _, _ := s.Get("counter")
	if string(e.Value) != "6400" || s.Rev() != writers*each {
		t.Fatalf("counter %s, rev %d; want 6400 and 6400", e.Value, s.Rev())
	}
}

func TestWatchSeesEveryChangeOnce(t *testing.T) {
	s, _ := openTemp(t)
	const writers, each = 8, 100
	done := make(chan struct{})
	seen := map[int64]bool{}
	got := 0
	go func() {
		defer close(done)
		after := int64(0)
		for got < writers*each {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			events, err := s.Watch(ctx, "w/", after)
			cancel()
			if err != nil || len(events) == 0 {
				t.Errorf("watch after %d: %v, %d events", after, err, len(events))
				return
			}
			for _, e := range events {
				if seen[e.Rev] || e.Rev <= after {
					t.Errorf("event %d seen twice or out of order", e.Rev)
				}
				seen[e.Rev] = true
				after = e.Rev
				got++
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := "w/" + string(rune('a'+w))
				if i%10 == 9 {
					s.Delete(key)
				} else {
					s.Put(key, json.RawMessage(`1`))
				}
				s.Put("other", json.RawMessage(`1`)) // outside the prefix
			}
		})
	}
	wg.Wait()
	<-done
	if got != writers*each {
		t.Fatalf("watch saw %d changes, want %d", got, writers*each)
	}
}

func TestWatchWaitsAndTimesOut(t *testing.T) {
	s, _ := openTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	events, err := s.Watch(ctx, "", s.Rev())
	if err != nil || len(events) != 0 {
		t.Fatalf("idle watch: %v %v", events, err)
	}
}

func TestCompactedWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, &store.Options{MaxLog: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 30 {
		s.Inc("n", 1)
	}
	_, err = s.Watch(context.Background(), "", 5)
	var ce *store.CompactedError
	if !errors.Is(err, store.ErrCompacted) || !errors.As(err, &ce) || ce.Current != 30 || ce.Compacted == 0 {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	// From 0: every change the log still holds, the oldest first.
	if ev, err := s.Watch(context.Background(), "", 0); err != nil || len(ev) == 0 || ev[0].Rev != ce.Compacted+1 || ev[len(ev)-1].Rev != 30 {
		t.Fatalf("watch from 0 after the log dropped changes: %v, %v", ev, err)
	}
	if ev, err := s.Watch(context.Background(), "", 25); err != nil || len(ev) != 5 {
		t.Fatalf("watch from a kept revision: %d events, %v", len(ev), err)
	}
}

func TestForeignAndCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("these are my notes, not a database\n"), 0o600)
	if _, err := store.Open(text, nil); err == nil || !strings.Contains(err.Error(), "not a meshrpc data file") {
		t.Fatalf("open a text file: %v", err)
	}
	if b, _ := os.ReadFile(text); !strings.HasPrefix(string(b), "these are my notes") {
		t.Fatal("the foreign file was modified")
	}
	// A real data file with its pages smashed.
	path := filepath.Join(dir, "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Put("a", json.RawMessage(`1`))
	s.Close()
	b, _ := os.ReadFile(path)
	for i := 4096; i < len(b); i++ {
		b[i] = 0xA5
	}
	os.WriteFile(path, b, 0o600)
	if s, err := store.Open(path, nil); err == nil {
		s.Close()
		t.Fatal("opened a corrupt file without error")
	}
}

func TestLockedFileFailsFast(t *testing.T) {
	_, path := openTemp(t) // holds the file's lock until the test ends
	start := time.Now()
	_, err := store.Open(path, &store.Options{LockTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("second open hung")
	}
}

func TestInMemoryIsRemovedOnClose(t *testing.T) {
	s, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	s.Put("a", json.RawMessage(`1`))
	path := s.Path()
	s.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("in-memory store file left behind: %v", err)
	}
}
