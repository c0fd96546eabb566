package rpc

import (
	"context"
	"net"
	"sync"
	"time"
)

// identityTTL is how long a connection's caller identity is trusted before it
// is looked up again, so a tailnet policy change (a grant added or removed, a
// tag changed) reaches calls on an open connection within 10 seconds.
const identityTTL = 5 * time.Second

// connState is what the server keeps per connection: who is at the other end.
// Identity lookups cost a LocalAPI round trip (130-250 us), so they are made
// once per connection and per identityTTL, never per call.
type connState struct {
	remote string

	mu      sync.Mutex
	caller  Caller
	err     error
	fetched time.Time
}

type connStateKey struct{}

func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connStateKey{}, &connState{remote: c.RemoteAddr().String()})
}

// callerOf identifies the caller of a request arriving from remote on the
// connection whose state is cs (nil when the server is mounted in another
// http.Server: then every request is looked up).
func (s *Server) callerOf(ctx context.Context, cs *connState, remote string) (Caller, error) {
	if s.cfg.Identify == nil {
		if host, _, err := net.SplitHostPort(remote); err == nil {
			remote = host
		}
		return Caller{Addr: remote}, nil
	}
	if cs == nil {
		return s.cfg.Identify(ctx, remote)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.fetched.IsZero() || time.Since(cs.fetched) > identityTTL {
		cs.caller, cs.err = s.cfg.Identify(ctx, cs.remote)
		cs.fetched = time.Now()
		if cs.err != nil {
			cs.fetched = time.Time{} // try again next call
		}
	}
	return cs.caller, cs.err
}
