package node

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/store"
)

// A kv.list reply of many tiny entries is bounded by api.MaxListBytes as
// encoded, framing included: 4 MiB of one-byte keys and values alone would
// be two million entries and some 70 MiB on the wire.
func TestKVListOfTinyEntriesIsBoundedOnTheWire(t *testing.T) {
	s, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 100_000 // under 1 MiB of keys and values, 4.2 MB as JSON
	for i := 0; i < n; i += store.MaxBatchKeys {
		batch := make([]store.KeyValue, store.MaxBatchKeys)
		for j := range batch {
			batch[j] = store.KeyValue{Key: fmt.Sprintf("t/%06d", i+j), Value: json.RawMessage("1")}
		}
		if _, err := s.PutAll(batch, false); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := listVisible(s, api.ListParams{Prefix: "t/"}, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := json.Marshal(entries)
	if len(reply) > api.MaxListBytes || len(entries) == 0 || len(entries) == n {
		t.Fatalf("a kv.list reply of %d entries took %d bytes encoded; the limit is %d", len(entries), len(reply), api.MaxListBytes)
	}
	t.Logf("%d of %d entries, %d bytes", len(entries), n, len(reply))
}
