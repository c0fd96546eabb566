package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

// CoalesceSubprotocol is the WebSocket subprotocol with which a client
// says it accepts several replies packed into one message, as a JSON array
// of response objects (its own requests' replies, matched by id). The server
// then writes, in one message, every reply that is ready when the previous
// write ends, so that many replies share a packet. Clients that do not ask
// get one reply per message, as JSON-RPC over WebSocket usually goes.
const CoalesceSubprotocol = "meshrpc.coalesce"

// PackSubprotocol is CoalesceSubprotocol in both directions: replies are
// packed as there, and a client's message that is a JSON array is a pack of
// independent requests, each handled and answered on its own as if it had
// come in a message of its own (not a JSON-RPC batch, whose replies wait for
// each other). The Go client packs the calls that queue while it writes, so
// that many requests share a packet too.
const PackSubprotocol = "meshrpc.pack"

// maxStreamInFlight bounds the requests one stream has being handled; the
// stream stops reading (back pressure) beyond it.
const maxStreamInFlight = 256

// serveStream serves JSON-RPC over a WebSocket: each text message is a
// request or a batch, handled concurrently; each reply is a message, sent as
// it is ready and matched by id. Origin and Host were checked already, and
// the caller is the connection's, as for POST.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	conn := s.acceptStream(w, r)
	if conn == nil {
		return // Accept has answered
	}
	st := &streamConn{conn: conn}
	s.addStream(st)
	defer s.removeStream(st)

	// The request's context ends when this handler returns; the stream's
	// calls need the connection's values (its identity) but their own life.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	cs, _ := r.Context().Value(connStateKey{}).(*connState)
	pack := conn.Subprotocol() == PackSubprotocol
	src := sourceOf(r.RemoteAddr)
	reply := st.replier(ctx, pack || conn.Subprotocol() == CoalesceSubprotocol,
		func(n int) { s.sources.releaseReply(src, int64(n)) })
	answer := s.streamAnswerer(ctx, cancel, st, incoming{ctx: ctx, conn: cs, remote: r.RemoteAddr}, src, reply)

	var handlers sync.WaitGroup
	workers := workerPool{wg: &handlers, done: ctx.Done(), idle: make(chan func())}
	slots := make(chan struct{}, maxStreamInFlight)
	// The websocket library fills what it is asked to read (io.ReadFull):
	// asking 4 KiB at a time, the message's clock sees its bytes come.
	budget := &chargedReader{sources: s.sources, src: src, maxRead: 4 << 10}
	readRequests(ctx, conn, pack, &s.cfg, budget, func(body json.RawMessage) {
		// Back pressure: no more calls while the peer leaves too many
		// replies unread (nor reading, as this is the reader).
		if s.sources.waitReplies(ctx, src) != nil {
			return
		}
		slots <- struct{}{}
		st.pending.Add(1)
		workers.run(func() {
			defer func() { <-slots }()
			answer(body)
		})
	})
	cancel()
	handlers.Wait()
	conn.CloseNow()
}

// streamAnswerer returns what answers one message of st: its reply sent
// and charged to src, or, when src leaves too many replies unread, the
// stream closed. in carries no call id: each message has its own, or a new
// one.
func (s *Server) streamAnswerer(ctx context.Context, cancel context.CancelFunc, st *streamConn, in incoming, src netip.Addr, reply func([]byte) error) func(body []byte) {
	var refused sync.Once
	return func(body []byte) {
		var msg []byte
		if s.closing.Load() {
			msg = appendResponse(nil, nil, nil, &Error{Code: CodeUnavailable, Message: "the node is shutting down; call again when it is back"})
		} else {
			msg = s.handleBody(in, body, nil)
		}
		if msg == nil {
			st.pending.Add(-1)
			return
		}
		if err := s.sources.holdReply(src, int64(len(msg))); err != nil {
			// The peer does not read its replies: close its stream, with
			// the reason when the close frame gets through (within the
			// websocket library's 5 s), then stop reading it.
			st.pending.Add(-1)
			refused.Do(func() {
				go func() {
					st.conn.Close(websocket.StatusPolicyViolation, err.Error())
					cancel()
				}()
			})
			return
		}
		if reply(msg) != nil {
			cancel() // the connection is broken: stop reading
		}
	}
}

// acceptStream upgrades the request to a WebSocket stream, or returns nil
// when it has answered the request with a refusal.
func (s *Server) acceptStream(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the Origin check above is stricter
		CompressionMode:    websocket.CompressionDisabled,
		Subprotocols:       []string{PackSubprotocol, CoalesceSubprotocol}, // in order of preference
	})
	if err != nil {
		return nil
	}
	conn.SetReadLimit(s.cfg.MaxBodyBytes)
	return conn
}

// replier returns how the stream's replies are written: packed with the
// others that queue meanwhile, or one message per reply, Write serializing
// them. Either way each reply leaves the stream's pending count, and its
// bytes are told to release once written or dropped.
func (st *streamConn) replier(ctx context.Context, pack bool, release func(bytes int)) func([]byte) error {
	if pack {
		w := &packWriter{conn: st.conn,
			others:    func() bool { return st.pending.Load() > 1 },
			sent:      func(n int) { st.pending.Add(-int64(n)) },
			sentBytes: release,
		}
		return func(msg []byte) error { return w.write(ctx, msg) }
	}
	return func(msg []byte) error {
		err := st.conn.Write(ctx, websocket.MessageText, msg)
		st.pending.Add(-1)
		release(len(msg))
		return err
	}
}

// readRequests reads the stream's messages until it ends or breaks, and
// hands each request in them to handle. A stream may wait for its next
// message as long as it likes, but a message once begun must arrive whole
// in the time a POST body has (Config.BodyTimeout and MinBodyRate):
// otherwise the stream is closed, so a peer cannot hold the node's memory
// with messages it never finishes.
func readRequests(ctx context.Context, conn *websocket.Conn, pack bool, cfg *Config, budget *chargedReader, handle func(json.RawMessage)) {
	for {
		typ, data, err := readMessage(ctx, conn, cfg, budget)
		if errors.Is(err, errReadingBudget) {
			conn.Close(websocket.StatusPolicyViolation, err.Error())
			return
		}
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			conn.Close(websocket.StatusUnsupportedData, "JSON-RPC messages are text")
			return
		}
		for _, body := range unpack(data, pack) {
			handle(body)
		}
	}
}

// readMessage reads the stream's next message, waiting for its start as
// long as ctx allows and for the rest of it at most until its deadline
// (the websocket library closes the connection when the context it reads
// with ends), and charging its bytes to the stream's source while they
// arrive.
func readMessage(ctx context.Context, conn *websocket.Conn, cfg *Config, budget *chargedReader) (websocket.MessageType, []byte, error) {
	msgCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	typ, r, err := conn.Reader(msgCtx)
	if err != nil {
		return 0, nil, err
	}
	var late *time.Timer
	first := budget.clock.begin(cfg, func(d time.Time) { late.Reset(time.Until(d)) })
	late = time.AfterFunc(time.Until(first), cancel)
	defer late.Stop()
	budget.r = r
	defer budget.refund()
	// Read into a pooled buffer, then copy once into a slice of the
	// message's size, which the handlers keep: io.ReadAll would allocate
	// (and zero) about twice a large message in growing chunks.
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(budget); err != nil {
		return typ, nil, err
	}
	return typ, bytes.Clone(buf.Bytes()), nil
}

// unpack returns the requests of a message: under PackSubprotocol, an
// array's elements (up to maxPack of them), each to be handled on its own;
// otherwise, or when the array does not split plainly, the message itself
// (a batch).
func unpack(data []byte, pack bool) []json.RawMessage {
	if pack {
		if i := jsonfast.SkipSpace(data, 0); i < len(data) && data[i] == '[' {
			if items, ok := jsonfast.SplitArray(data); ok && len(items) > 0 && len(items) <= maxPack {
				return items
			}
		}
	}
	return []json.RawMessage{data}
}

// workerPool runs a stream's requests on goroutines that stay, once done,
// for the stream's next requests until done is closed: the stack a
// goroutine grew handling one call (decoding, binding, the audit record,
// writing the reply into the tailnet's TCP stack) serves the next, instead
// of every call growing a new one. There are as
// many workers as requests were ever in flight at once (maxStreamInFlight
// at most).
type workerPool struct {
	wg   *sync.WaitGroup
	done <-chan struct{}
	idle chan func()
}

func (p *workerPool) run(f func()) {
	select {
	case p.idle <- f: // a worker was waiting
		return
	default:
	}
	p.wg.Go(func() {
		for {
			f()
			select {
			case f = <-p.idle:
			case <-p.done:
				return
			}
		}
	})
}

// streamConn is an open stream as the server tracks it.
type streamConn struct {
	conn    *websocket.Conn
	pending atomic.Int64 // messages read and not yet answered on the wire
}
