package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/coder/websocket"
	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

// stream is the client's side of a WebSocket stream: many calls in flight
// on one connection, replies matched by id.
type stream struct {
	conn *websocket.Conn
	w    *packWriter // when the server takes packed requests (PackSubprotocol)
	// life is the stream's, ended when it fails or closes: writes take it,
	// not their caller's context, since websocket.Conn closes the
	// connection when a write's context ends (a frame cannot be left half
	// written) and one caller's deadline would fail every call in flight.
	life context.Context
	end  context.CancelFunc

	mu      sync.Mutex
	pending map[int64]chan response
	err     error // set once the stream is broken
}

// errStreamClosed is a stream that ended with calls in flight.
var errStreamClosed = errors.New("stream closed")

func (c *Client) getStream(ctx context.Context) (*stream, error) {
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	if st := c.stream; st != nil && st.broken() == nil {
		return st, nil
	}
	conn, _, err := websocket.Dial(ctx, "ws://"+c.addr+"/rpc", &websocket.DialOptions{
		HTTPClient:      c.hc,
		CompressionMode: websocket.CompressionDisabled,
		Subprotocols:    []string{PackSubprotocol, CoalesceSubprotocol},
	})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(64 << 20)
	st := &stream{conn: conn, pending: map[int64]chan response{}}
	st.life, st.end = context.WithCancel(context.Background())
	if conn.Subprotocol() == PackSubprotocol {
		st.w = &packWriter{conn: conn, others: func() bool { return st.inFlight() > 1 }, sent: func(int) {}}
	}
	go st.readLoop()
	c.stream = st
	return st, nil
}

func (st *stream) broken() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

const (
	// maxKeptReadBuffer bounds the read buffer a stream keeps between messages.
	maxKeptReadBuffer = 4 << 20
	// ownBufferResult is the size from which a result keeps the buffer it
	// was read into rather than a copy.
	ownBufferResult = 64 << 10
)

func (st *stream) readLoop() {
	var buf bytes.Buffer // reused: a large reply is read without growing a new buffer
	for {
		_, msg, err := st.conn.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(msg)
		}
		if err != nil {
			st.fail(err)
			return
		}
		data := buf.Bytes()
		if len(data) > 0 && data[0] == '[' { // several replies packed in one message
			items, ok := jsonfast.SplitArray(data)
			if !ok && json.Unmarshal(data, &items) != nil {
				items = nil // not JSON: nobody's reply
			}
			for _, item := range items {
				if r, err := decodeResponse(item); err == nil {
					r.Result = bytes.Clone(r.Result) // data is the next message's buffer
					st.deliver(r)
				}
			}
		} else if r, err := decodeResponse(data); err == nil {
			if len(r.Result) < ownBufferResult {
				r.Result = bytes.Clone(r.Result) // data is the next message's buffer
			} else { // the buffer becomes the result's; the next gets one as large, not copied into
				buf = *bytes.NewBuffer(make([]byte, 0, min(cap(data), maxKeptReadBuffer)))
			}
			st.deliver(r)
		}
		if buf.Cap() > maxKeptReadBuffer {
			buf = bytes.Buffer{}
		}
	}
}

// deliver hands a reply to the call waiting for its id, if any (an error for
// an unparseable request has id null and is nobody's).
func (st *stream) deliver(r response) {
	id, err := strconv.ParseInt(string(r.ID), 10, 64)
	if err != nil {
		return
	}
	st.mu.Lock()
	ch := st.pending[id]
	delete(st.pending, id)
	st.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// fail ends the stream, failing every call in flight.
func (st *stream) fail(err error) {
	st.end() // a write in progress ends too
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err == nil {
		st.err = fmt.Errorf("%w: %v", errStreamClosed, err)
	}
	for id, ch := range st.pending {
		close(ch)
		delete(st.pending, id)
	}
}

// callStream makes one call on the stream.
func (c *Client) callStream(ctx context.Context, id int64, method string, body []byte) (response, error) {
	st, err := c.getStream(ctx)
	if ctxErr := ctx.Err(); ctxErr != nil { // not sent: the stream never sees it
		return response{}, fmt.Errorf("calling %s on %s: %w", method, c.addr, ctxErr)
	}
	if err != nil {
		return response{}, &TransportError{Addr: c.addr, Method: method, Err: err}
	}
	ch := make(chan response, 1)
	st.mu.Lock()
	if st.err != nil {
		st.mu.Unlock()
		return response{}, &TransportError{Addr: c.addr, Method: method, Err: st.err}
	}
	st.pending[id] = ch
	st.mu.Unlock()
	if err := st.send(body); err != nil {
		st.mu.Lock()
		delete(st.pending, id)
		st.mu.Unlock()
		st.fail(err)
		return response{}, &TransportError{Addr: c.addr, Method: method, Sent: true, Err: err}
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return response{}, &TransportError{Addr: c.addr, Method: method, Sent: true, Err: st.broken()}
		}
		return r, nil
	case <-ctx.Done():
		st.mu.Lock()
		delete(st.pending, id)
		st.mu.Unlock()
		return response{}, fmt.Errorf("calling %s on %s: %w", method, c.addr, ctx.Err())
	}
}

// send writes a request, packed with others when the server takes packs,
// under the stream's life (see stream.life): a caller whose deadline passes
// while it writes returns when the write does.
func (st *stream) send(body []byte) error {
	if st.w == nil { // one message per request; websocket.Conn.Write serializes them
		return st.conn.Write(st.life, websocket.MessageText, body)
	}
	return st.w.write(st.life, body)
}

// inFlight is the number of calls waiting for their replies.
func (st *stream) inFlight() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.pending)
}

// closeStream closes the stream, with the WebSocket's closing handshake
// (up to 5 s) unless now: a peer known gone never answers one.
func (c *Client) closeStream(now bool) {
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	if c.stream != nil {
		if now {
			c.stream.conn.CloseNow()
		} else {
			c.stream.conn.Close(websocket.StatusNormalClosure, "")
		}
		c.stream.end()
		c.stream = nil
	}
}
