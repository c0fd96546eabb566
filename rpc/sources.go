package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// sources accounts for what peers make the server hold before any call of
// theirs is decided: open connections, and bytes of requests being read.
// Both are charged to the tailnet address they come from, checked as they
// are taken (a connection right after Accept, bytes as they arrive), and
// refused beyond the limit, so that a peer that may call nothing cannot
// make the node hold more than its share. Connections that do not come
// from an IP address (the local socket: the node's own user) are not
// counted.
type sources struct {
	maxConns   int   // per source
	maxReading int64 // per source
	maxTotal   int64 // all sources together

	mu       sync.Mutex
	conns    map[netip.Addr]int
	requests map[netip.Addr]int // in progress; over HTTP/2 one connection carries many
	reading  map[netip.Addr]int64
	total    int64
	// Replies made and not yet written (a peer that does not read its
	// replies leaves them waiting), counted apart from the bytes being
	// read: from maxReading of them a source's streams start no more calls
	// until they drain (back pressure); beyond four times that, or beyond
	// maxTotal in all while it has maxReading waiting, its replies are
	// refused and its stream closed. A caller that reads its replies stays
	// below: the calls it has running when it reaches maxReading (64 at
	// most, MaxCallsPerCaller) add at most 64 replies. drained is closed,
	// and replaced, when replies are written.
	replying    map[netip.Addr]int64
	replyingAll int64
	drained     chan struct{}
}

func newSources(maxConns int, maxReading, maxTotal int64) *sources {
	return &sources{maxConns: maxConns, maxReading: maxReading, maxTotal: maxTotal,
		conns: map[netip.Addr]int{}, requests: map[netip.Addr]int{}, reading: map[netip.Addr]int64{},
		replying: map[netip.Addr]int64{}, drained: make(chan struct{})}
}

// sourceOf is the tailnet address a connection comes from; invalid for a
// local socket.
func sourceOf(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admitConn takes a connection slot for src, or reports false when src
// has maxConns open already.
func (s *sources) admitConn(src netip.Addr) (release func(), ok bool) {
	return s.admit(s.conns, src)
}

// admitRequest takes a slot for a request of src in progress, or reports
// false when src has maxConns of them already. Over HTTP/1.1 a connection
// carries one request at a time, so admitConn bounds them already; over
// HTTP/2 (h2c) one connection carries up to 250 at once, each with its own
// handler, headers and body buffers, which would let a peer hold 128 x 250
// stalled requests.
func (s *sources) admitRequest(src netip.Addr) (release func(), ok bool) {
	return s.admit(s.requests, src)
}

// admit takes one of src's maxConns slots in held.
func (s *sources) admit(held map[netip.Addr]int, src netip.Addr) (release func(), ok bool) {
	if !src.IsValid() {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if held[src] >= s.maxConns {
		return nil, false
	}
	held[src]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if held[src]--; held[src] <= 0 {
				delete(held, src)
			}
		})
	}, true
}

// errReadingBudget is a request refused because its source, or all
// sources together, already have as many bytes being read as the limit.
var errReadingBudget = errors.New("too many bytes of requests being read")

// charge counts n more bytes being read from src, or reports an error when
// that would pass src's share or the node's total.
func (s *sources) charge(src netip.Addr, n int64) error {
	if !src.IsValid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reading[src]+n > s.maxReading {
		return fmt.Errorf("%w from %s: the limit per node is %d bytes; let your calls finish first", errReadingBudget, src, s.maxReading)
	}
	if s.total+n > s.maxTotal {
		return fmt.Errorf("%w: the node's limit of %d bytes is reached; try again shortly", errReadingBudget, s.maxTotal)
	}
	s.reading[src] += n
	s.total += n
	return nil
}

func (s *sources) refund(src netip.Addr, n int64) {
	if !src.IsValid() || n == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total -= n
	if s.reading[src] -= n; s.reading[src] <= 0 {
		delete(s.reading, src)
	}
}

// errUnreadReplies is a reply refused because its source, or all sources
// together, have as many bytes of replies waiting to be written as the
// limit: the source does not read what it asked for. Short, as it is a
// WebSocket close reason (at most 123 bytes).
var errUnreadReplies = errors.New("too many bytes of replies not read by this peer")

// holdReply counts a reply of n bytes waiting to be written to src, or
// reports errUnreadReplies when that would pass four times src's share,
// or the node's total while src has its share waiting. A source with no reply waiting may always have one, however
// large, so that a caller that reads its replies is never refused one.
func (s *sources) holdReply(src netip.Addr, n int64) error {
	if !src.IsValid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if held := s.replying[src]; held > 0 && (held+n > 4*s.maxReading || (held >= s.maxReading && s.replyingAll+n > s.maxTotal)) {
		return errUnreadReplies
	}
	s.replying[src] += n
	s.replyingAll += n
	return nil
}

// releaseReply gives back n bytes of replies to src once written (or
// dropped).
func (s *sources) releaseReply(src netip.Addr, n int64) {
	if !src.IsValid() || n == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replyingAll -= n
	if s.replying[src] -= n; s.replying[src] <= 0 {
		delete(s.replying, src)
	}
	close(s.drained)
	s.drained = make(chan struct{})
}

// waitReplies waits, before a stream of src starts its next call, until
// src has fewer than maxReading bytes of replies waiting, or ctx ends.
func (s *sources) waitReplies(ctx context.Context, src netip.Addr) error {
	if !src.IsValid() {
		return nil
	}
	for {
		s.mu.Lock()
		held, drained := s.replying[src], s.drained
		s.mu.Unlock()
		if held < s.maxReading {
			return nil
		}
		select {
		case <-drained:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// chargedReader charges what it reads to its source; refund gives it back
// once the bytes are no longer held for reading.
type chargedReader struct {
	r       io.Reader
	sources *sources
	src     netip.Addr
	n       int64
	clock   bodyClock // the request's deadline, moved on as its bytes arrive
	maxRead int       // bytes one Read asks for; 0: as many as it is given
}

func (c *chargedReader) Read(p []byte) (int, error) {
	if c.maxRead > 0 && len(p) > c.maxRead {
		p = p[:c.maxRead]
	}
	n, err := c.r.Read(p)
	if n > 0 {
		if cerr := c.sources.charge(c.src, int64(n)); cerr != nil {
			return 0, cerr
		}
		c.n += int64(n)
		c.clock.arrived(c.n)
	}
	return n, err
}

// bodyClock keeps a begun request's deadline (Config.BodyTimeout and
// MinBodyRate), telling set a later one as the request's bytes arrive,
// each time it has moved by a quarter of the timeout: a large body moves
// it a few times, not at every read.
type bodyClock struct {
	start   time.Time
	timeout time.Duration
	rate    int64
	set     func(time.Time) // nil: no deadline
	last    time.Time       // the deadline set last
}

// begin starts the clock of a request that begins now and returns its
// first deadline, which the caller sets.
func (c *bodyClock) begin(cfg *Config, set func(time.Time)) time.Time {
	*c = bodyClock{start: time.Now(), timeout: cfg.BodyTimeout, rate: cfg.MinBodyRate, set: set}
	c.last = c.start.Add(c.timeout)
	return c.last
}

// arrived moves the deadline on when n bytes in all have arrived: the
// request may pause for the timeout, and take the timeout and a second
// for each rate bytes in all. Both grow as bytes come, so the deadline
// only moves later. The pause bound can only make it earlier, so the
// clock is read only when the rate bound has moved far enough: a small
// request's reads never read it.
func (c *bodyClock) arrived(n int64) {
	if c.set == nil {
		return
	}
	// n/rate seconds, in two parts, so that no product overflows.
	d := c.start.Add(c.timeout + time.Duration(n/c.rate)*time.Second + time.Duration(n%c.rate)*time.Second/time.Duration(c.rate))
	if d.Sub(c.last) < c.timeout/4 {
		return
	}
	if paused := time.Now().Add(c.timeout); paused.Before(d) {
		d = paused
	}
	if d.Sub(c.last) >= c.timeout/4 {
		c.set(d)
		c.last = d
	}
}

func (c *chargedReader) refund() {
	c.sources.refund(c.src, c.n)
	c.n = 0
}

// limitedListener refuses, right after Accept, a connection from a source
// that has its share open already: closed at once, on a goroutine of its
// own, so that the accept loop never waits (tsnet resets the connections
// it hands over when they are not accepted within about a second, and those
// would be anyone's, the owner's too).
type limitedListener struct {
	net.Listener
	sources *sources
}

func (l limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if release, ok := l.sources.admitConn(sourceOf(c.RemoteAddr().String())); ok {
			return &countedConn{Conn: c, release: release}, nil
		}
		go c.Close()
	}
}

// countedConn gives its slot back when closed.
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
