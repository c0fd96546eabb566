package rpc

import (
	"context"
	"runtime"
	"sync"

	"github.com/coder/websocket"
)

// packWriter writes a stream's messages, packing the ones that queue while
// a write is in progress into one message, a JSON array (arrays flattened),
// so that many share a frame and a packet; on tsnet the cost is per packet.
// The goroutine that finds no write in progress writes its own message and
// whatever queues meanwhile, until the queue is empty: a lone message goes
// out at once, from the goroutine that made it, with no hand-off. Client
// and server use it alike, for requests (PackSubprotocol) and replies.
type packWriter struct {
	conn *websocket.Conn
	// others reports whether other calls are in flight: then the writer
	// yields once before writing, so that the messages of calls woken with
	// its own (by the same packet) queue and share the write.
	others func() bool
	// sent is told of messages written, or dropped when a write failed;
	// sentBytes, if set, of their bytes.
	sent      func(n int)
	sentBytes func(bytes int)

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	buf     []byte // the pack being written; only the writer touches it
}

const (
	// maxPack bounds the messages packed into one; the server takes a
	// longer array as a batch.
	maxPack = 64
	// maxPackedMessage is the size from which a message goes alone: packing
	// would copy it, and a lone large reply is taken without a copy.
	maxPackedMessage = 16 << 10
)

// write writes msg, or queues it for the goroutine writing. The error is
// that of a write made by this goroutine; when a write fails, the messages
// queued behind it are dropped (told to sent) and the caller should end the
// stream, which fails their calls.
func (w *packWriter) write(ctx context.Context, msg []byte) error {
	w.mu.Lock()
	w.queue = append(w.queue, msg)
	if w.writing {
		w.mu.Unlock()
		return nil
	}
	w.writing = true
	w.mu.Unlock()
	if w.others() {
		runtime.Gosched()
	}

	var err error
	w.mu.Lock()
	for len(w.queue) > 0 && err == nil {
		var n, size int
		msg, n, size = w.take()
		w.mu.Unlock()
		err = w.conn.Write(ctx, websocket.MessageText, msg)
		w.done(n, size)
		w.mu.Lock()
	}
	dropped, size := len(w.queue), 0
	for _, m := range w.queue {
		size += len(m)
	}
	w.queue, w.writing = nil, false
	w.mu.Unlock()
	if dropped > 0 {
		w.done(dropped, size)
	}
	return err
}

func (w *packWriter) done(n, size int) {
	w.sent(n)
	if w.sentBytes != nil {
		w.sentBytes(size)
	}
}

// take removes from the queue the next message to write: a large one alone,
// else the small ones before the next large one (up to maxPack), packed;
// size is the bytes of the messages taken.
func (w *packWriter) take() (msg []byte, n, size int) {
	for n < len(w.queue) && n < maxPack && len(w.queue[n]) < maxPackedMessage {
		n++
	}
	switch n {
	case 0:
		n = 1
		msg = w.queue[0]
	case 1:
		msg = w.queue[0]
	default:
		w.buf = append(w.buf[:0], '[')
		for i, m := range w.queue[:n] {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = appendElements(w.buf, m)
		}
		msg = append(w.buf, ']')
		w.buf = msg
	}
	for _, m := range w.queue[:n] {
		size += len(m)
	}
	clear(w.queue[:n]) // let the written messages go
	w.queue = w.queue[n:]
	return msg, n, size
}

// appendElements appends a message: an object as is, an array (a batch's
// replies) without its brackets.
func appendElements(buf, msg []byte) []byte {
	if len(msg) >= 2 && msg[0] == '[' {
		return append(buf, msg[1:len(msg)-1]...)
	}
	return append(buf, msg...)
}
