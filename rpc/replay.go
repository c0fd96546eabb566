package rpc

import (
	"context"
	"sync"
	"time"
)

// replayCache remembers, for a bounded time and size, the outcome of recent
// calls to procedures that change things, by caller and call id. A client
// whose reply was lost retries with the same call id; the retry is answered
// with the first outcome (waiting for it if the first is still running) and
// never runs the procedure again: a kv.inc whose reply was lost counts once.
type replayCache struct {
	window   time.Duration
	maxBytes int

	mu      sync.Mutex
	entries map[replayKey]*replayEntry
	order   []*replayEntry // by start time, for eviction
	bytes   int
}

// replayKey names one request: the calling node (its tailnet address, which
// control assigns and a peer cannot choose), the call id, and the request's
// JSON-RPC id (a batch shares one call id).
type replayKey struct {
	caller, callID, reqID string
}

type replayEntry struct {
	key   replayKey
	start time.Time
	done  chan struct{} // closed when res is set
	res   result
	size  int
}

// replayOverhead is what an entry costs besides its result, for the budget.
const replayOverhead = 256

func newReplayCache(window time.Duration, maxBytes int) *replayCache {
	return &replayCache{window: window, maxBytes: maxBytes, entries: map[replayKey]*replayEntry{}}
}

// begin returns the entry of key and whether this is its first arrival; the
// first arrival must call finish.
func (c *replayCache) begin(key replayKey, now time.Time) (*replayEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e, false
	}
	e := &replayEntry{key: key, start: now, done: make(chan struct{}), size: replayOverhead + len(key.callID) + len(key.reqID)}
	c.entries[key] = e
	c.order = append(c.order, e)
	c.bytes += e.size
	c.evict(now)
	return e, true
}

// finish records the outcome of the first arrival.
func (c *replayCache) finish(e *replayEntry, res result) {
	c.mu.Lock()
	e.res = res
	e.size += res.size()
	c.bytes += res.size()
	c.evict(time.Now())
	c.mu.Unlock()
	close(e.done)
}

// wait waits for the first arrival's outcome, as long as ctx allows.
func (e *replayEntry) wait(ctx context.Context) (result, bool) {
	select {
	case <-e.done:
		return e.res, true
	case <-ctx.Done():
		return result{}, false
	}
}

// evict drops the entries older than the window, and the oldest finished
// ones while over the byte budget. Unfinished entries stay: their retries
// must find them. It works from the oldest and stops at the first entry it
// keeps, so a call costs O(1) amortized; only when a long-running call
// holds the line and the cache is twice its budget does it look past it.
func (c *replayCache) evict(now time.Time) {
	drop := func(e *replayEntry) bool {
		return isClosed(e.done) && (now.Sub(e.start) >= c.window || c.bytes > c.maxBytes)
	}
	i := 0
	for ; i < len(c.order) && drop(c.order[i]); i++ {
		delete(c.entries, c.order[i].key)
		c.bytes -= c.order[i].size
	}
	c.order = c.order[i:]
	if c.bytes <= 2*c.maxBytes {
		return
	}
	kept := make([]*replayEntry, 0, len(c.order))
	for _, e := range c.order {
		if drop(e) {
			delete(c.entries, e.key)
			c.bytes -= e.size
			continue
		}
		kept = append(kept, e)
	}
	c.order = kept
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
