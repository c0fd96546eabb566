package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

// TestKVFromSeveralNodesAtOnce has three client nodes increment one counter
// and write their own keys concurrently while a fourth watches: the counter
// ends exact and the watcher sees every change once.
func TestKVFromSeveralNodesAtOnce(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home"})
	watcher := dialAs(t, dn, "watcher")
	ctx := context.Background()

	const clients, each = 3, 100
	type change struct {
		Type string `json:"type"`
		Key  string `json:"key"`
		Rev  int64  `json:"rev"`
	}
	seen := map[int64]bool{}
	watchDone := make(chan error, 1)
	go func() {
		after := int64(0)
		for len(seen) < clients*each*2 {
			var res struct {
				Events []change `json:"events"`
				Rev    int64    `json:"rev"`
			}
			if err := watcher.Call(ctx, "home", "kv.watch", []any{"", after, 10}, &res); err != nil {
				watchDone <- err
				return
			}
			for _, e := range res.Events {
				if seen[e.Rev] || e.Rev <= after {
					watchDone <- fmt.Errorf("change %d seen twice or out of order", e.Rev)
					return
				}
				seen[e.Rev] = true
				after = e.Rev
			}
			if len(res.Events) == 0 {
				watchDone <- fmt.Errorf("watch returned no change after %d", after)
				return
			}
		}
		watchDone <- nil
	}()

	var wg sync.WaitGroup
	for i := range clients {
		c := dialAs(t, dn, fmt.Sprintf("client%d", i))
		wg.Go(func() {
			for j := range each {
				if err := c.Call(ctx, "home", "kv.inc", []any{"counter"}, nil); err != nil {
					t.Error(err)
					return
				}
				if err := c.Call(ctx, "home", "kv.put", []any{fmt.Sprintf("c%d/%d", i, j), j}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n int64
	if err := watcher.Call(ctx, "home", "kv.get", []any{"counter"}, &n); err != nil || n != clients*each {
		t.Fatalf("counter = %d, %v; want %d", n, err, clients*each)
	}
	select {
	case err := <-watchDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("watcher saw %d of %d changes", len(seen), clients*each*2)
	}
	var entries []json.RawMessage
	if err := watcher.Call(ctx, "home", "kv.list", []any{"c1/"}, &entries); err != nil || len(entries) != each {
		t.Fatalf("kv.list c1/: %d entries, %v", len(entries), err)
	}
}

func TestKVErrorsHaveTheirCodes(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	c := dialAs(t, dn, "cafe")
	ctx := context.Background()
	c.Call(ctx, "home", "kv.put", []any{"s", "text"}, nil)
	var rev struct{ Rev int64 }
	if err := c.Call(ctx, "home", "kv.cas", []any{"new", 0, 1}, &rev); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method string
		params []any
		code   int
	}{
		{"kv.inc", []any{"s"}, rpc.CodeInvalidParams},
		{"kv.put", []any{"", 1}, rpc.CodeInvalidParams},
		{"kv.cas", []any{"new", 0, 2}, rpc.CodeConflict},
		{"kv.inc", []any{"n", "five"}, rpc.CodeInvalidParams},
	} {
		err := c.Call(ctx, "home", tc.method, tc.params, nil)
		if rpc.CodeOf(err) != tc.code {
			t.Errorf("%s %v: %v; want code %d", tc.method, tc.params, err, tc.code)
		}
	}
	err := c.Call(ctx, "home", "kv.cas", []any{"new", 0, 2}, nil)
	var e *rpc.Error
	if !errors.As(err, &e) || e.Data == nil {
		t.Fatalf("conflict without the current revision: %v", err)
	}
	var v any
	if err := c.Call(ctx, "home", "kv.get", []any{"absent"}, &v); err != nil || v != nil {
		t.Fatalf("kv.get of an absent key: %v, %v; want null", v, err)
	}
}

func TestKVWatchFromNow(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	c := dialAs(t, dn, "cafe")
	ctx := context.Background()
	c.Call(ctx, "home", "kv.put", []any{"old", 1}, nil)
	type result struct {
		Events []struct {
			Key string `json:"key"`
		} `json:"events"`
		Rev int64 `json:"rev"`
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if err := c.Call(ctx, "home", "kv.watch", []any{"", -1, 10}, &r); err != nil {
			t.Error(err)
		}
		done <- r
	}()
	// Write new keys until the watch answers: it must report only those.
	var r result
	for i := 0; ; i++ {
		c.Call(ctx, "home", "kv.put", []any{"new", i}, nil)
		select {
		case r = <-done:
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	if len(r.Events) == 0 {
		t.Fatal("watch from now saw nothing")
	}
	for _, e := range r.Events {
		if e.Key != "new" {
			t.Fatalf("watch from now saw %q, written before it began", e.Key)
		}
	}
}

// A kv.list reply holds at most api.MaxListBytes of keys and values (a
// hostile or careless caller cannot make one reply of the whole store);
// paging with after reads the rest, each entry once.
func TestKVListRepliesAreBoundedAndPage(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	c := dialAs(t, dn, "cafe")
	ctx := context.Background()
	big, _ := json.Marshal(strings.Repeat("v", 500<<10))
	for i := range 10 {
		if err := c.Call(ctx, "home", "kv.put", api.PutParams{Key: fmt.Sprintf("big/%02d", i), Value: big}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		var page []api.Entry
		if err := c.Call(ctx, "home", "kv.list", api.ListParams{Prefix: "big/", After: after}, &page); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			if pages < 2 {
				t.Fatalf("5 MB of entries came in %d pages; a reply holds at most %d bytes", pages, api.MaxListBytes)
			}
			break
		}
		size := 0
		for _, e := range page {
			size += len(e.Key) + len(e.Value)
			seen = append(seen, e.Key)
		}
		if size > api.MaxListBytes {
			t.Fatalf("a kv.list reply of %d bytes", size)
		}
		after = page[len(page)-1].Key
	}
	if len(seen) != 10 || seen[0] != "big/00" || seen[9] != "big/09" || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != 10 {
		t.Fatalf("pages gave %v", seen)
	}
}

// A personal space is limited by its quota over the tailnet: the write past
// it gets -32007 with the space's usage, and a delete makes room.
func TestPersonalSpaceQuota(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", PersonalKeys: 5})
	c := dialAs(t, dn, "phone")
	ctx := context.Background()
	for i := range 5 {
		if err := c.Call(ctx, "home", "kv.put", api.PutParams{Key: fmt.Sprintf("~/note%d", i), Value: json.RawMessage(`"x"`)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Call(ctx, "home", "kv.put", api.PutParams{Key: "~/note5", Value: json.RawMessage(`"x"`)}, nil)
	if rpc.CodeOf(err) != rpc.CodeQuotaExceeded || !strings.Contains(err.Error(), "holds 5 keys") {
		t.Fatalf("the sixth key: %v", err)
	}
	if err := c.Call(ctx, "home", "kv.delete", api.KeyParams{Key: "~/note0"}, nil); err != nil {
		t.Fatalf("delete in a full space: %v", err)
	}
	if err := c.Call(ctx, "home", "kv.put", api.PutParams{Key: "~/note5", Value: json.RawMessage(`"x"`)}, nil); err != nil {
		t.Fatalf("after the delete: %v", err)
	}
	if err := c.Call(ctx, "home", "kv.put", api.PutParams{Key: "shared/x", Value: json.RawMessage(`"x"`)}, nil); err != nil {
		t.Fatalf("outside the personal space: %v", err)
	}
}

// kv.watch may wait its documented maximum: the server's default call
// timeout (30 s) does not cut it short.
func TestWatchMayWaitItsMaximum(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	home := startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	p, ok := home.Registry().Lookup("kv.watch")
	if !ok || p.Timeout <= 60*time.Second {
		t.Fatalf("kv.watch's timeout: %v; want more than its 60 s maximum wait", p.Timeout)
	}
}
