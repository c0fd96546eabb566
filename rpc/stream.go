package rpc

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
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

const (
	// maxCoalesce bounds the replies packed into one message.
	maxCoalesce = 64
	// maxPack bounds the requests of a pack; a longer array is a batch.
	maxPack = 64
	// maxPackedReply is the size from which a reply goes alone: packing
	// would copy it, and the client takes a lone large reply without a copy.
	maxPackedReply = 16 << 10
)

// maxStreamInFlight bounds the requests one stream has being handled; the
// stream stops reading (back pressure) beyond it.
const maxStreamInFlight = 256

// serveStream serves JSON-RPC over a WebSocket: each text message is a
// request or a batch, handled concurrently; each reply is a message, sent as
// it is ready and matched by id. Origin and Host were checked already, and
// the caller is the connection's, as for POST.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the Origin check above is stricter
		CompressionMode:    websocket.CompressionDisabled,
		Subprotocols:       []string{PackSubprotocol, CoalesceSubprotocol}, // in order of preference
	})
	if err != nil {
		return // Accept has answered
	}
	conn.SetReadLimit(s.cfg.MaxBodyBytes)
	st := &streamConn{conn: conn}
	s.addStream(st)
	defer s.removeStream(st)

	// The request's context ends when this handler returns; the stream's
	// calls need the connection's values (its identity) but their own life.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	cs, _ := r.Context().Value(connStateKey{}).(*connState)

	replies := make(chan []byte, maxStreamInFlight)
	writerDone := make(chan struct{})
	pack := conn.Subprotocol() == PackSubprotocol
	coalesce := pack || conn.Subprotocol() == CoalesceSubprotocol
	go func() {
		defer close(writerDone)
		var packed, held []byte // held: a large reply met while packing, sent next
		for {
			msg := held
			if held = nil; msg == nil {
				var ok bool
				if msg, ok = <-replies; !ok {
					return
				}
			}
			n := 1
			if coalesce && len(msg) < maxPackedReply {
				if len(replies) == 0 && st.pending.Load() > 1 {
					runtime.Gosched() // let other calls about to reply queue theirs, to share the message
				}
				msg, n, held, packed = packReplies(msg, replies, packed[:0])
			}
			err := conn.Write(ctx, websocket.MessageText, msg)
			for range n {
				st.pending.Add(-1)
			}
			if err != nil {
				cancel()
				if held != nil {
					st.pending.Add(-1)
				}
				for range replies { // drain, so handlers never block
					st.pending.Add(-1)
				}
				return
			}
		}
	}()

	var handlers sync.WaitGroup
	slots := make(chan struct{}, maxStreamInFlight)
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			break
		}
		if typ != websocket.MessageText {
			conn.Close(websocket.StatusUnsupportedData, "JSON-RPC messages are text")
			break
		}
		for _, body := range unpack(data, pack) {
			slots <- struct{}{}
			st.pending.Add(1)
			handlers.Go(func() {
				defer func() { <-slots }()
				var reply []byte
				if s.closing.Load() {
					reply = appendResponse(nil, nil, nil, &Error{Code: CodeUnavailable, Message: "the node is shutting down; call again when it is back"})
				} else {
					in := incoming{ctx: ctx, conn: cs, remote: r.RemoteAddr} // the call id: the message's, else a new one
					reply = s.handleBody(in, body, nil)
				}
				if reply == nil {
					st.pending.Add(-1)
					return
				}
				replies <- reply
			})
		}
	}
	cancel()
	handlers.Wait()
	close(replies)
	<-writerDone
	conn.CloseNow()
}

// unpack returns the requests of a message: under PackSubprotocol, an
// array's elements (up to maxPack of them), each to be handled on its own;
// otherwise, or when the array does not split plainly, the message itself
// (a batch).
func unpack(data []byte, pack bool) []json.RawMessage {
	if pack {
		if i := skipSpace(data, 0); i < len(data) && data[i] == '[' {
			if items, ok := splitArray(data); ok && len(items) > 0 && len(items) <= maxPack {
				return items
			}
		}
	}
	return []json.RawMessage{data}
}

// streamConn is an open stream as the server tracks it.
type streamConn struct {
	conn    *websocket.Conn
	pending atomic.Int64 // messages read and not yet answered on the wire
}

// packReplies returns first alone, or, when more small replies are queued,
// all of them (up to maxCoalesce) as one JSON array, flattening batch
// replies. n is how many replies msg holds. A large reply met in the queue
// is not packed but returned as held, to be sent on its own next.
func packReplies(first []byte, queue <-chan []byte, buf []byte) (msg []byte, n int, held, reuse []byte) {
	n = 1
	for n < maxCoalesce && held == nil {
		var next []byte
		select {
		case next = <-queue:
		default:
		}
		if next == nil { // none queued, or the queue closed
			break
		}
		if len(next) >= maxPackedReply {
			held = next
			break
		}
		if n == 1 {
			buf = append(buf, '[')
			buf = appendElements(buf, first)
		}
		buf = append(buf, ',')
		buf = appendElements(buf, next)
		n++
	}
	if n == 1 {
		return first, 1, held, buf
	}
	buf = append(buf, ']')
	return buf, n, held, buf
}

// appendElements appends a reply: an object as is, a batch's array without
// its brackets.
func appendElements(buf, reply []byte) []byte {
	if len(reply) >= 2 && reply[0] == '[' {
		return append(buf, reply[1:len(reply)-1]...)
	}
	return append(buf, reply...)
}
