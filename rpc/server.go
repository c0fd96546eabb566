package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Config configures a Server. The zero value serves a registry to anyone,
// with the default limits.
type Config struct {
	Registry *Registry

	// Identify names the caller at remoteAddr (e.g. tsnet's WhoIs). nil makes
	// every caller anonymous. It is called once per connection and again
	// every few seconds, never per call.
	Identify func(ctx context.Context, remoteAddr string) (Caller, error)

	// Authorize decides, before any handler runs, whether c may make the
	// call a describes; see Access for when it is asked. Its error is sent
	// to the caller (usually CodePermissionDenied); its Grant gives a
	// procedure that declares a key the key to use. nil allows everything.
	Authorize func(ctx context.Context, c Caller, a Access) (Grant, error)

	// NodeName names this node in messages.
	NodeName string

	// Hosts are the Host header values this node answers to (its names and
	// addresses, without port). Requests for another host are refused with
	// 421, which defeats DNS rebinding. Empty accepts any host.
	Hosts []string

	MaxBodyBytes      int64         // request body limit; default 1 MiB
	MaxBatch          int           // requests in one batch; default 100
	MaxDepth          int           // JSON nesting; default 64
	ReadHeaderTimeout time.Duration // default 5 s
	// A request body (a stream's message) once begun must keep arriving:
	// it is dropped when BodyTimeout passes without a byte of it, or when
	// it has taken BodyTimeout plus a second for each MinBodyRate bytes of
	// it that have arrived. A large request over a slow link gets the time
	// it needs; one that stalls or trickles is dropped. Defaults: 10 s and
	// 16 KiB/s (a 1 MiB body may take 74 s).
	BodyTimeout       time.Duration
	MinBodyRate       int64         // bytes per second
	DefaultTimeout    time.Duration // per call, when the client asks no less; default 30 s
	MaxCallsPerCaller int           // concurrent calls per caller; default 64

	// What one tailnet source (a peer's address) may make the server hold
	// before any call of its is decided, and all sources together: open
	// connections, requests in progress (as many as connections: over
	// HTTP/2 one connection carries many), and bytes of requests being read
	// (POST bodies and stream messages on their way in). Beyond them a
	// connection is closed as it is accepted, and a request is refused with
	// 429 (a stream is closed). Defaults: 128 connections, 128 requests and
	// 16 MiB per source, 64 MiB in all. The local socket (the node's own
	// user) is not limited.
	MaxConnsPerSource   int
	MaxReadingPerSource int64
	MaxReadingBytes     int64

	// Logger receives a line per call (call id, caller, method, duration,
	// outcome) at Info level and handler panics at Error. nil discards.
	Logger *slog.Logger
	// NoCallLog leaves out the line per call: for a node that must keep
	// no record of its calls.
	NoCallLog bool

	// Pages serves the paths other than /rpc (a web console), behind the
	// same Host check (DNS rebinding); nil answers them 404. Pages are only
	// read: the actions a page takes are calls to /rpc, with the browser
	// device's own identity and authorization.
	Pages http.Handler

	// Observe, when set, is told of every call that reaches the server with
	// a method, allowed or not, after it is answered: for audit logs and
	// statistics. It runs on the call's goroutine, so it must be quick and
	// must not keep the record (its Params) after returning.
	Observe func(*CallRecord)

	// ReplayWindow and ReplayMaxBytes bound the memory of outcomes kept for
	// retried calls (see CallRecord.Replayed); defaults 10 minutes, 8 MiB.
	ReplayWindow   time.Duration
	ReplayMaxBytes int
}

// CallRecord is one call as the server saw it.
type CallRecord struct {
	Time   time.Time
	CallID string
	Caller Caller
	// Method is the method called; a name that is not a method name
	// (CheckMethodName) appears only quoted and cut short.
	Method string
	// Key is the key or prefix the call was granted, for a procedure that
	// declares one (as the procedure used it: "~/x" as "~LOGIN/x").
	Key string
	// Under is what every key the call was granted begins with: Key
	// itself for a call of one key; for a call of several (EachKey), whose
	// Key names only the first, their longest common prefix.
	Under    string
	Code     int    // 0 when the call succeeded
	Message  string // the error's message otherwise
	Duration time.Duration
	// Replayed: a retry of a call already run (same caller and call id),
	// answered with the first outcome without running the procedure again.
	Replayed bool
}

func (c Config) withDefaults() Config {
	if c.Registry == nil {
		c.Registry = NewRegistry()
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 100
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = 64
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 10 * time.Second
	}
	if c.MinBodyRate <= 0 {
		c.MinBodyRate = 16 << 10
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 30 * time.Second
	}
	if c.MaxCallsPerCaller <= 0 {
		c.MaxCallsPerCaller = 64
	}
	if c.MaxConnsPerSource <= 0 {
		c.MaxConnsPerSource = 128
	}
	if c.MaxReadingPerSource <= 0 {
		c.MaxReadingPerSource = 16 << 20
	}
	if c.MaxReadingBytes <= 0 {
		c.MaxReadingBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReplayWindow <= 0 {
		c.ReplayWindow = 10 * time.Minute
	}
	if c.ReplayMaxBytes <= 0 {
		c.ReplayMaxBytes = 8 << 20
	}
	return c
}

// Server serves a Registry over JSON-RPC 2.0: POST /rpc (HTTP/1.1 and
// cleartext HTTP/2) and a WebSocket stream on GET /rpc.
type Server struct {
	cfg   Config
	hosts map[string]bool
	http  *http.Server

	// inflight counts the calls being handled, for Shutdown. A counter, not
	// a WaitGroup: stream messages may start calls while Shutdown waits.
	inflight atomic.Int64
	limits   callerLimits
	sources  *sources
	replay   *replayCache

	streamsMu sync.Mutex
	streams   map[*streamConn]bool // open streams, closed by Shutdown and Close
	closing   atomic.Bool          // Shutdown began: streams refuse new calls
}

// NewServer returns a server for cfg.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg.withDefaults()}
	s.hosts = hostSet(s.cfg.Hosts)
	s.limits.max = s.cfg.MaxCallsPerCaller
	s.sources = newSources(s.cfg.MaxConnsPerSource, s.cfg.MaxReadingPerSource, s.cfg.MaxReadingBytes)
	s.replay = newReplayCache(s.cfg.ReplayWindow, s.cfg.ReplayMaxBytes)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s.http = &http.Server{
		Handler:           s,
		ConnContext:       s.connContext,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		Protocols:         &protocols,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Registry is the registry the server serves.
func (s *Server) Registry() *Registry { return s.cfg.Registry }

// Serve accepts connections on ln until Shutdown or Close. It may be called
// for several listeners at once (the tailnet and a local socket).
func (s *Server) Serve(ln net.Listener) error {
	return s.http.Serve(limitedListener{ln, s.sources})
}

// Shutdown stops accepting connections and waits for calls in flight to
// finish, or for ctx to end; then it closes the streams, whose clients see
// the node going away.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	err := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() {
		for s.inflight.Load() > 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		for _, st := range s.openStreams() {
			for st.pending.Load() > 0 && ctx.Err() == nil { // every call answered on the wire
				time.Sleep(5 * time.Millisecond)
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	s.closeStreams(websocket.StatusGoingAway, "the node is shutting down")
	return err
}

// Close stops the server at once, closing every connection.
func (s *Server) Close() error {
	err := s.http.Close()
	s.closeStreams(websocket.StatusGoingAway, "the node is closing")
	return err
}

func (s *Server) addStream(st *streamConn) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streams == nil {
		s.streams = map[*streamConn]bool{}
	}
	s.streams[st] = true
}

func (s *Server) removeStream(st *streamConn) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	delete(s.streams, st)
}

func (s *Server) openStreams() []*streamConn {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	sts := make([]*streamConn, 0, len(s.streams))
	for st := range s.streams {
		sts = append(sts, st)
	}
	return sts
}

// closeStreams closes every open stream with a close frame, so that clients
// learn the node is going away before its connections drop (and do not send
// their next call on a dead one). It waits for the closing handshakes, all
// at once, for at most a second.
func (s *Server) closeStreams(code websocket.StatusCode, reason string) {
	var wg sync.WaitGroup
	streams := s.openStreams()
	for _, st := range streams {
		wg.Go(func() { st.conn.Close(code, reason) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		// A peer that does not read (its window full, so the close frame
		// cannot be written) does not get to hold the node open: its
		// connection is closed under it.
		for _, st := range streams {
			go st.conn.CloseNow()
		}
	}
}
