package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/store"
)

// A space's usage is charged before the write, exact across a restart, and
// a full space still deletes (and shrinks) but does not grow.
func TestQuotaLimitsSpacesAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	opts := &store.Options{Quota: &store.Quota{Prefix: "~", Bytes: 1000, Keys: 3}}
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	value := json.RawMessage(`"` + strings.Repeat("x", 198) + `"`) // 200 bytes
	for _, k := range []string{"~ann/a", "~ann/b", "~ann/c"} {
		if _, err := s.Put(k, value); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put("~ann/d", json.RawMessage("1")); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("a fourth key: %v", err)
	}
	if _, err := s.Put("~bob/a", value); err != nil { // another space
		t.Fatal(err)
	}
	if _, err := s.Put("shared/a", value); err != nil { // no space
		t.Fatal(err)
	}
	if b, k := s.Usage("ann"); k != 3 || b != 3*(6+200) {
		t.Fatalf("ann's usage: %d bytes, %d keys", b, k)
	}
	s.Close()

	s, err = store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, k := s.Usage("ann"); k != 3 || b != 3*(6+200) {
		t.Fatalf("ann's usage after a restart: %d bytes, %d keys", b, k)
	}
	big := json.RawMessage(`"` + strings.Repeat("x", 800) + `"`)
	var qe *store.QuotaError
	if _, err := s.Put("~ann/a", big); !errors.As(err, &qe) || qe.Space != "ann" || !strings.Contains(err.Error(), "delete some of its keys") {
		t.Fatalf("growing past the bytes: %v", err)
	}
	if _, err := s.Put("~ann/a", json.RawMessage("1")); err != nil { // shrinking
		t.Fatal(err)
	}
	if _, existed, err := s.Delete("~ann/b"); err != nil || !existed {
		t.Fatalf("delete in a full space: %v", err)
	}
	if _, err := s.Put("~ann/d", json.RawMessage("1")); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	if got, _, _ := s.Get("~ann/c"); string(got.Value) != string(value) {
		t.Fatal("a refused write changed nothing else")
	}
}

// The change log is bounded in bytes: overwriting a large value keeps the
// file small, and the last changes stay in the log (watchable, retries
// answered).
func TestChangeLogIsBoundedInBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, &store.Options{MaxLogBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := json.RawMessage(`"` + strings.Repeat("x", 10<<10) + `"`)
	for range 1000 { // 10 MB written, one key
		if _, err := s.Put("big", value); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := os.Stat(path)
	if st.Size() > 4<<20 {
		t.Fatalf("the file grew to %d bytes for one 10 KiB key and a 1 MiB log", st.Size())
	}
	events, err := s.Watch(context.Background(), "", 0)
	if err != nil || len(events) == 0 || events[len(events)-1].Rev != 1000 || len(events) < 100 {
		t.Fatalf("the log's last changes: %d events, %v", len(events), err)
	}
}
