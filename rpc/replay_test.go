package rpc

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestReplayCacheBoundsAndWaits(t *testing.T) {
	c := newReplayCache(time.Minute, 10*replayOverhead)
	now := time.Now()
	k := replayKey{caller: "laptop", callID: "a", reqID: "1"}
	e, first := c.begin(k, now)
	if !first {
		t.Fatal("first arrival not first")
	}
	again, first := c.begin(k, now)
	if first || again != e {
		t.Fatal("a retry did not find the first arrival")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, ok := again.wait(ctx); ok {
		t.Fatal("the retry got an outcome before the first finished")
	}
	c.finish(e, result{json: []byte("1")})
	if res, ok := again.wait(context.Background()); !ok || string(res.json) != "1" {
		t.Fatalf("retry got %q %v", res.json, ok)
	}
	// Over budget, the oldest finished entries go; the window expires the rest.
	for i := range 50 {
		e, _ := c.begin(replayKey{caller: "laptop", callID: fmt.Sprint(i)}, now)
		c.finish(e, result{json: []byte("2")})
	}
	if len(c.entries) > 11 || c.bytes > 11*replayOverhead+100 {
		t.Fatalf("%d entries, %d bytes: over budget", len(c.entries), c.bytes)
	}
	if _, first := c.begin(k, now); !first {
		t.Fatal("the oldest entry survived eviction")
	}
	c.evict(now.Add(2 * time.Minute))
	if len(c.entries) != 1 { // the unfinished one stays
		t.Fatalf("%d entries after the window", len(c.entries))
	}
}
