package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestEventsRoundTripWithAndWithoutARequest(t *testing.T) {
	request := strings.Repeat("\xff", requestLen)
	for _, tc := range []struct {
		typ     byte
		request string
		value   string
	}{
		{logPut, "", `{"a":1}`},
		{logPut, request, `[1]`},
		{logDelete, "", ""},
		{logDelete, request, ""},
	} {
		b := encodeEvent(tc.typ, tc.request, "some/key", []byte(tc.value))
		e, ok := decodeEvent(7, b, nil)
		if !ok || e.Key != "some/key" || string(e.Value) != tc.value || e.Rev != 7 || (e.Type == EventDelete) != (tc.typ == logDelete) {
			t.Errorf("%c with request %v: %+v %v", tc.typ, tc.request != "", e, ok)
		}
		if r, ok := requestOf(b); r != tc.request || ok != (tc.request != "") {
			t.Errorf("%c: requestOf = %q %v", tc.typ, r, ok)
		}
	}
	for _, b := range []string{"", "P", "P" + request, "D\x01"} {
		if _, ok := decodeEvent(1, []byte(b), nil); ok {
			t.Errorf("decodeEvent(%q) ok", b)
		}
	}
}

// The records and changes of one commit share the committer's memory,
// reused by the next commit: every value written, in one commit or many,
// large or small, reads back as written, from the keys and from the log,
// also after a reopen.
func TestValuesWrittenFromReusedMemoryReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, size := range []int{MaxValueBytes, 3, 64 << 10, MaxValueBytes, 1000, 200 << 10, 10, MaxValueBytes} {
		key := fmt.Sprintf("k%d", i%5) // some keys written twice
		value := `"` + strings.Repeat(string(rune('a'+i)), size-2) + `"`
		put := func() {
			if _, err := s.For(fmt.Sprint(i)).Put(key, json.RawMessage(value)); err != nil {
				t.Error(err)
			}
		}
		if i%2 == 0 { // alone in its commit
			wg.Wait()
			put()
			want[key] = value
			continue
		}
		wg.Go(func() { // maybe sharing a commit with others
			put()
			mu.Lock()
			defer mu.Unlock()
			want[key] = value
		})
	}
	wg.Wait()
	events, err := s.Watch(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 8 {
		t.Fatalf("the log holds %d changes, want 8", len(events))
	}
	for _, e := range events {
		if v := string(e.Value); len(v) < 2 || strings.Trim(v[1:len(v)-1], v[1:2]) != "" {
			t.Errorf("change %d of %s holds %.20q... (%d bytes), not one letter repeated", e.Rev, e.Key, v, len(v))
		}
	}
	for round := range 2 {
		for key, value := range want {
			if e, ok, err := s.Get(key); err != nil || !ok || string(e.Value) != value {
				t.Errorf("round %d: %s reads %.20q (%d bytes) %v %v, want %.20q (%d bytes)", round, key, e.Value, len(e.Value), ok, err, value, len(value))
			}
		}
		s.Close()
		if s, err = Open(path, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
}

// A large value's change keeps the value apart (format v3), and the value
// leaves with its change when the log drops it, by count or by bytes; the
// log's byte count includes the values apart, the same before and after a
// reopen.
func TestLargeValuesApartLeaveWithTheirChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	opts := &Options{MaxLog: 16, MaxLogBytes: 100 << 10}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		value := `"` + strings.Repeat("x", apartBytes+i) + `"`
		if i%3 == 0 {
			value = fmt.Sprint(i) // small: kept in the log
		}
		if _, err := s.For(fmt.Sprint(i)).Put(fmt.Sprintf("k%d", i%7), json.RawMessage(value)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) (apart int) {
		t.Helper()
		s.view(func(tx *bolt.Tx) error {
			values := tx.Bucket(bucketLogValues)
			var logBytes int64
			tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
				logBytes += changeBytes(v)
				if isApart(v) {
					apart++
					if values.Bucket(k) == nil {
						t.Errorf("change %d keeps its value apart, but the value is missing", revOf(k))
					}
				}
				return nil
			})
			n := 0
			values.ForEach(func(k, _ []byte) error {
				n++
				if e, ok := decodeEvent(revOf(k), tx.Bucket(bucketLog).Get(k), values); !ok || len(e.Value) < apartBytes {
					t.Errorf("a value apart at %d without its change (%v)", revOf(k), ok)
				}
				return nil
			})
			if n != apart {
				t.Errorf("%d values apart for %d changes that keep one", n, apart)
			}
			if logBytes != s.logBytes || logBytes > opts.MaxLogBytes {
				t.Errorf("the log holds %d bytes; the store counts %d (bound %d)", logBytes, s.logBytes, opts.MaxLogBytes)
			}
			return nil
		})
		return apart
	}
	if check(s) == 0 {
		t.Fatal("no change keeps its value apart")
	}
	events, err := s.Watch(context.Background(), "", 0)
	if err != nil || len(events) == 0 {
		t.Fatalf("watch from the oldest change: %d changes, %v", len(events), err)
	}
	for _, e := range events {
		if want := fmt.Sprintf("k%d", (e.Rev-1)%7); e.Key != want || !json.Valid(e.Value) {
			t.Errorf("change %d: %s = %.20s, want key %s", e.Rev, e.Key, e.Value, want)
		}
	}
	s.Close()
	if s, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}
