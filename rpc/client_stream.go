package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"github.com/coder/websocket"
)

// stream is the client's side of a WebSocket stream: many calls in flight
// on one connection, replies matched by id.
type stream struct {
	conn *websocket.Conn
	pack bool // the server takes packed requests (PackSubprotocol)

	// Writes: the call that finds no write in progress writes, and goes on
	// writing, packed into one message, whatever queued meanwhile; so a lone
	// call is written at once by its own goroutine, and concurrent calls
	// share messages and packets.
	wmu     sync.Mutex
	queue   [][]byte
	writing bool

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
	st := &stream{conn: conn, pack: conn.Subprotocol() == PackSubprotocol, pending: map[int64]chan response{}}
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
			var rs []response
			if json.Unmarshal(data, &rs) == nil {
				for _, r := range rs {
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
	if err != nil {
		if ctx.Err() != nil {
			return response{}, fmt.Errorf("calling %s on %s: %w", method, c.addr, ctx.Err())
		}
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
	if err := st.send(ctx, body); err != nil {
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

// send writes a request, or queues it for the goroutine writing. An error
// is a failed write of this goroutine's; a queued request whose write fails
// learns it from the stream's failure.
func (st *stream) send(ctx context.Context, body []byte) error {
	if !st.pack { // one message per request; websocket.Conn.Write serializes them
		return st.conn.Write(ctx, websocket.MessageText, body)
	}
	st.wmu.Lock()
	st.queue = append(st.queue, body)
	if st.writing {
		st.wmu.Unlock()
		return nil
	}
	st.writing = true
	st.wmu.Unlock()
	if st.inFlight() > 1 {
		runtime.Gosched() // let the calls woken with this one queue theirs, to share its message
	}

	var err error
	var msg, buf []byte
	st.wmu.Lock()
	for len(st.queue) > 0 && err == nil {
		n := min(len(st.queue), maxPack)
		msg, buf = packRequests(st.queue[:n], buf[:0])
		st.queue = st.queue[n:]
		st.wmu.Unlock()
		err = st.conn.Write(ctx, websocket.MessageText, msg)
		st.wmu.Lock()
	}
	st.queue, st.writing = nil, false // after an error, the queued calls fail with the stream
	st.wmu.Unlock()
	return err
}

// inFlight is the number of calls waiting for their replies.
func (st *stream) inFlight() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.pending)
}

// packRequests joins requests into one JSON array, a pack.
func packRequests(reqs [][]byte, buf []byte) (msg, reuse []byte) {
	if len(reqs) == 1 {
		return reqs[0], buf
	}
	buf = append(buf, '[')
	for i, r := range reqs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, r...)
	}
	buf = append(buf, ']')
	return buf, buf
}

func (c *Client) closeStream() {
	c.streamMu.Lock()
	defer c.streamMu.Unlock()
	if c.stream != nil {
		c.stream.conn.Close(websocket.StatusNormalClosure, "")
		c.stream = nil
	}
}
