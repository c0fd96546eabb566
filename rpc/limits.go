package rpc

import "sync"

// callerLimits bounds the calls each caller has in flight, so that one
// misbehaving device cannot take every goroutine of a small home server.
type callerLimits struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// acquire takes a slot for key; release gives it back.
func (l *callerLimits) acquire(key string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[string]int{}
	}
	if l.n[key] >= l.max {
		return nil, false
	}
	l.n[key]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.n[key]--; l.n[key] <= 0 {
			delete(l.n, key)
		}
	}, true
}

// limitKey identifies a caller for limits: its node when known, else its
// address.
func limitKey(c Caller, remote string) string {
	if c.NodeFQDN != "" {
		return c.NodeFQDN
	}
	if c.Node != "" {
		return c.Node
	}
	if c.Addr != "" {
		return c.Addr
	}
	return remote
}
