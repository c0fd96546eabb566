package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/meshrpc/meshrpc/store"
)

func entries(prefix string, n int, value string) []store.KeyValue {
	kvs := make([]store.KeyValue, n)
	for i := range kvs {
		kvs[i] = store.KeyValue{Key: fmt.Sprintf("%s%04d", prefix, i), Value: json.RawMessage(value)}
	}
	return kvs
}

// A batch is written whole, each entry at its own revision, or, when
// anything refuses it, not at all: a quota its last entry would pass, a
// bad value, a key given twice, too many entries or bytes.
func TestPutAllWritesWholeOrNothing(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "kv.db"), &store.Options{Quota: &store.Quota{Prefix: "~", Keys: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Put("~ann/0000", json.RawMessage(`"old"`))
	before := s.Rev()

	big := strings.Repeat("x", store.MaxValueBytes-2)
	for _, c := range []struct {
		name  string
		batch []store.KeyValue
		want  error
	}{
		{"past the quota", entries("~ann/", 4, "1"), store.ErrQuota},
		{"a bad value last", append(entries("a/", 5, "1"), store.KeyValue{Key: "a/x", Value: json.RawMessage("{")}), store.ErrInvalidJSON},
		{"a key twice", append(entries("a/", 5, "1"), store.KeyValue{Key: "a/0002", Value: json.RawMessage("2")}), store.ErrInvalidKey},
		{"an empty key", append(entries("a/", 5, "1"), store.KeyValue{Value: json.RawMessage("2")}), store.ErrEmptyKey},
		{"too many entries", entries("a/", store.MaxBatchKeys+1, "1"), store.ErrTooLarge},
		{"too many bytes", entries("a/", 9, `"`+big+`"`), store.ErrTooLarge},
	} {
		if _, err := s.PutAll(c.batch, false); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if s.Rev() != before {
		t.Fatalf("refused batches moved the revision from %d to %d", before, s.Rev())
	}
	if got, _ := s.List("", 0); len(got) != 1 || string(got[0].Value) != `"old"` {
		t.Fatalf("refused batches left %v", got)
	}
	if _, keys := s.Usage("ann"); keys != 1 {
		t.Fatalf("refused batches charged ann's space: %d keys", keys)
	}

	res, err := s.PutAll(entries("~ann/", 3, `"new"`), false) // overwrites one: 3 keys in all
	if err != nil || res.Written != 3 || res.Rev != before+3 {
		t.Fatalf("a batch that fits: %+v, %v", res, err)
	}
	for i, e := range must(s.List("~ann/", 0)) {
		if string(e.Value) != `"new"` || e.Rev != before+1+int64(i) {
			t.Fatalf("entry %d: %+v, want \"new\" at %d", i, e, before+1+int64(i))
		}
	}
	res, err = s.PutAll(append(entries("b/", 2, "1"), store.KeyValue{Key: "~ann/0001", Value: json.RawMessage("9")}), true)
	if err != nil || res.Written != 2 || res.Present != 1 || res.Rev != before+5 {
		t.Fatalf("ifAbsent: %+v, %v", res, err)
	}
	if e, _, _ := s.Get("~ann/0001"); string(e.Value) != `"new"` {
		t.Fatalf("ifAbsent overwrote a present key: %s", e.Value)
	}
}

// A batch asked again for the same request (a client's retry) is answered
// with its first result and not written again, also after a reopen.
func TestPutAllForARequestIsMadeOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Put("k/0001", json.RawMessage("0"))
	first, err := s.For("batch-1").PutAll(entries("k/", 10, "1"), true)
	if err != nil || first.Written != 9 || first.Present != 1 {
		t.Fatalf("first: %+v, %v", first, err)
	}
	s.Put("k/0005", json.RawMessage("5")) // another caller's write after it
	check := func(s *store.Store, when string) {
		t.Helper()
		rev := s.Rev()
		if again, err := s.For("batch-1").PutAll(entries("k/", 10, "1"), true); again != first || err != nil {
			t.Fatalf("%s: again %+v, %v; want %+v", when, again, err, first)
		}
		if s.Rev() != rev {
			t.Fatalf("%s: the retry wrote (revision %d to %d)", when, rev, s.Rev())
		}
		if e, _, _ := s.Get("k/0005"); string(e.Value) != "5" {
			t.Fatalf("%s: the retry overwrote a later write: %s", when, e.Value)
		}
	}
	check(s, "before a reopen")
	s.Close()
	if s, err = store.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "after a reopen")
}

// Batches refused for their quota share commits with other writes and
// batches (many writers at once) without undoing them or being half made.
func TestRefusedBatchesLeaveOtherWritesOfTheirCommit(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "kv.db"), &store.Options{Quota: &store.Quota{Prefix: "~", Keys: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			var err error
			switch i % 4 {
			case 0:
				_, err = s.PutAll(entries(fmt.Sprintf("~u%d/", i), 6, "1"), false)
				if errors.Is(err, store.ErrQuota) {
					err = nil
				} else {
					err = fmt.Errorf("a batch past its quota: %v", err)
				}
			case 1:
				_, err = s.PutAll(entries(fmt.Sprintf("~u%d/", i), 5, "1"), false)
			case 2:
				_, err = s.PutAll(entries(fmt.Sprintf("shared/%d/", i), 50, "1"), false)
			case 3:
				_, err = s.Put(fmt.Sprintf("single/%d", i), json.RawMessage("1"))
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all := must(s.List("", 0))
	if want := 10*5 + 10*50 + 10; len(all) != want || s.Rev() != int64(want) {
		t.Fatalf("%d keys at revision %d, want %d", len(all), s.Rev(), want)
	}
	for _, e := range all {
		var n int
		if _, err := fmt.Sscanf(e.Key, "~u%d/", &n); err == nil && n%4 == 0 {
			t.Fatalf("a refused batch wrote %s", e.Key)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
