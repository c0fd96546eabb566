package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshrpc/meshrpc/store"
)

// TestWritesForARequestAreMadeOnce: a write asked again for the same
// request (a client's retry) is answered with the first write's result and
// not made again, also after the store is closed and reopened.
func TestWritesForARequestAreMadeOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.For("cafe\x00call-1\x001")
	v1, rev1, err := r.Inc("n", 1)
	if err != nil || v1 != 1 {
		t.Fatalf("first Inc: %d, %v", v1, err)
	}
	s.Inc("n", 10) // another caller's write in between
	putRev, _ := s.For("put-1").Put("p", json.RawMessage(`"a"`))
	casRev, err := s.For("cas-1").CAS("c", 0, json.RawMessage(`1`))
	if err != nil {
		t.Fatal(err)
	}
	s.Put("d", json.RawMessage(`1`))
	delRev, existed, _ := s.For("del-1").Delete("d")
	if !existed {
		t.Fatal("Delete of a present key: not there")
	}
	check := func(s *store.Store, when string) {
		t.Helper()
		if v, rev, err := s.For("cafe\x00call-1\x001").Inc("n", 1); v != v1 || rev != rev1 || err != nil {
			t.Errorf("%s: Inc again = %d at %d, %v; want the first result, %d at %d", when, v, rev, err, v1, rev1)
		}
		if rev, err := s.For("put-1").Put("p", json.RawMessage(`"b"`)); rev != putRev || err != nil {
			t.Errorf("%s: Put again = %d, %v; want %d", when, rev, err, putRev)
		}
		if rev, err := s.For("cas-1").CAS("c", 0, json.RawMessage(`1`)); rev != casRev || err != nil {
			t.Errorf("%s: CAS again = %d, %v; want %d, not a conflict with itself", when, rev, err, casRev)
		}
		if rev, existed, err := s.For("del-1").Delete("d"); rev != delRev || !existed || err != nil {
			t.Errorf("%s: Delete again = %d %v, %v; want %d true", when, rev, existed, err, delRev)
		}
		if e, _, _ := s.Get("n"); string(e.Value) != "11" {
			t.Errorf("%s: n = %s, want 11", when, e.Value)
		}
		if e, _, _ := s.Get("p"); string(e.Value) != `"a"` {
			t.Errorf("%s: p = %s, want the first put's", when, e.Value)
		}
	}
	check(s, "open")
	s.Close()
	if s, err = store.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "reopened")
	// A new request, and writes with no request, are made each time.
	if v, _, _ := s.For("cafe\x00call-2\x001").Inc("n", 1); v != 12 {
		t.Fatalf("a new request's Inc = %d, want 12", v)
	}
	if v, _, _ := s.Inc("n", 1); v != 13 {
		t.Fatalf("Inc with no request = %d, want 13", v)
	}
}

// TestFailedWritesAreNotRemembered: a write that changed nothing is made
// again when asked again.
func TestFailedWritesAreNotRemembered(t *testing.T) {
	s, _ := openTemp(t)
	s.Put("x", json.RawMessage(`"text"`))
	if _, _, err := s.For("r").Inc("x", 1); !errors.Is(err, store.ErrNotInteger) {
		t.Fatalf("Inc of a string: %v", err)
	}
	s.Put("x", json.RawMessage(`1`))
	if v, _, err := s.For("r").Inc("x", 1); v != 2 || err != nil {
		t.Fatalf("the same request after the value became a number: %d, %v; want 2", v, err)
	}
	if _, err := s.For("c").CAS("y", 5, json.RawMessage(`1`)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CAS with a wrong revision: %v", err)
	}
	if _, err := s.For("c").CAS("y", 0, json.RawMessage(`1`)); err != nil {
		t.Fatalf("the same request with the right revision: %v", err)
	}
}

// TestConcurrentRetriesOfOneRequestCountOnce: many attempts of one request
// at once, in one commit or several, make one write.
func TestConcurrentRetriesOfOneRequestCountOnce(t *testing.T) {
	s, _ := openTemp(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, _, err := s.For(fmt.Sprint("req-", i%4)).Inc("n", 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if e, _, _ := s.Get("n"); string(e.Value) != "4" {
		t.Fatalf("n = %s after 40 attempts of 4 requests, want 4", e.Value)
	}
}

// TestRequestsAreForgottenWithTheirChanges: a request is remembered as long
// as the change log holds its write, and the memory stays bounded.
func TestRequestsAreForgottenWithTheirChanges(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "kv.db"), &store.Options{MaxLog: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.For("old").Inc("n", 1)
	for i := range 30 {
		s.For(fmt.Sprint("r", i)).Inc("m", 1)
	}
	if v, _, _ := s.For("r29").Inc("m", 1); v != 30 {
		t.Fatalf("a recent request made again: m = %d, want 30", v)
	}
	if v, _, _ := s.For("old").Inc("n", 1); v != 2 {
		t.Fatalf("a request older than the log: n = %d, want 2 (forgotten, made again)", v)
	}
}

// TestInMemoryStoresRememberNoRequests: an in-memory store does not outlive
// its process, so it keeps no requests (the node's memory answers retries).
func TestInMemoryStoresRememberNoRequests(t *testing.T) {
	s, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.For("r").Inc("n", 1)
	if v, _, _ := s.For("r").Inc("n", 1); v != 2 {
		t.Fatalf("n = %d, want 2", v)
	}
}

// TestWatchSeesChangesMadeForRequests: a change that carries its request
// reads like any other.
func TestWatchSeesChangesMadeForRequests(t *testing.T) {
	s, _ := openTemp(t)
	s.For("a").Put("k", json.RawMessage(`{"x":1}`))
	s.For("b").Delete("k")
	s.Inc("n", 1)
	events, err := s.Watch(context.Background(), "", 0)
	if err != nil || len(events) != 3 {
		t.Fatalf("watch: %v, %v", events, err)
	}
	if e := events[0]; e.Type != store.EventPut || e.Key != "k" || string(e.Value) != `{"x":1}` || e.Rev != 1 {
		t.Errorf("put: %+v", e)
	}
	if e := events[1]; e.Type != store.EventDelete || e.Key != "k" || e.Rev != 2 {
		t.Errorf("delete: %+v", e)
	}
	if e := events[2]; e.Type != store.EventPut || e.Key != "n" || string(e.Value) != "1" {
		t.Errorf("inc with no request: %+v", e)
	}
}

// TestVersion1FilesAreUpgraded: a file written before changes carried
// their requests opens, keeps its data and says format v3 from then on;
// another format is refused and named.
func TestVersion1FilesAreUpgraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Put("a", json.RawMessage(`1`))
	s.Close()
	setFormat := func(f string) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte(f)) })
	}
	format := func() (f string) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.View(func(tx *bolt.Tx) error { f = string(tx.Bucket([]byte("meta")).Get([]byte("format"))); return nil })
		return f
	}
	setFormat("meshrpc-store-v1")
	if s, err = store.Open(path, nil); err != nil {
		t.Fatalf("open a v1 file: %v", err)
	}
	if e, ok, _ := s.Get("a"); !ok || string(e.Value) != "1" {
		t.Fatalf("a v1 file's data: %+v %v", e, ok)
	}
	s.For("r").Inc("n", 1)
	s.Close()
	if f := format(); f != "meshrpc-store-v3" {
		t.Fatalf("format after opening a v1 file: %q", f)
	}
	setFormat("meshrpc-store-v9")
	if _, err := store.Open(path, nil); err == nil || !strings.Contains(err.Error(), `"meshrpc-store-v9"`) || !strings.Contains(err.Error(), "meshrpc-store-v3") {
		t.Fatalf("open a v9 file: %v", err)
	}
}
