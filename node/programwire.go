package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A program's connection carries one JSON value per line both ways
// (docs/protocol.md, "Programs on the node's machine"). lineConn is that
// framing, for the node's side and for Provide's alike: lines read up to a
// limit, and lines written by the senders themselves (see send).

// Limits of a program's connection.
const (
	// MaxProgramLine is the longest line either side may send: a call's
	// params or a result, with room for the largest store value.
	MaxProgramLine = 8 << 20
	// programWriteTimeout bounds a write to a program that stopped reading.
	programWriteTimeout = 10 * time.Second
	// maxPending bounds the lines waiting while a write is under way.
	maxPending = 4 * MaxProgramLine
)

var errLineTooLong = fmt.Errorf("a line longer than %d bytes (the limit of a program's connection)", MaxProgramLine)

type lineConn struct {
	conn net.Conn
	r    *bufio.Reader

	wmu     sync.Mutex
	pending []byte // lines waiting for the write under way
	spare   []byte
	writing bool // a sender is writing

	done chan struct{} // closed by close
	once sync.Once
	err  error // why the connection ended; set before done closes
}

func newLineConn(c net.Conn, r *bufio.Reader) *lineConn {
	if r == nil {
		r = bufio.NewReaderSize(c, 64<<10)
	}
	return &lineConn{conn: c, r: r, done: make(chan struct{})}
}

// readLine returns the next line without its newline. The slice is the
// caller's to keep.
func (lc *lineConn) readLine() ([]byte, error) {
	var line []byte
	for {
		part, err := lc.r.ReadSlice('\n')
		if len(line)+len(part) > MaxProgramLine+1 {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			if line == nil {
				line = bytes.Clone(part) // ReadSlice's buffer is reused
			} else {
				line = append(line, part...)
			}
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			line = append(line, part...)
		default:
			if len(line)+len(part) > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// send writes v as one line and reports false when the connection has
// ended. Lines sent while another sender's write is under way wait in
// pending, and that sender writes them too, in one write: a lone line goes
// out at once, and lines sent together share a syscall. A write that
// cannot finish within programWriteTimeout (the other side stopped
// reading), or more than maxPending waiting, ends the connection.
func (lc *lineConn) send(v any) bool {
	line, err := json.Marshal(v)
	if err != nil {
		line, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32603, "message": "cannot encode: " + err.Error()}})
	}
	lc.wmu.Lock()
	if lc.closed() {
		lc.wmu.Unlock()
		return false
	}
	lc.pending = append(append(lc.pending, line...), '\n')
	if lc.writing {
		over := len(lc.pending) > maxPending
		lc.wmu.Unlock()
		if over {
			lc.close(fmt.Errorf("more than %d bytes waiting to be written: the other side is not reading", maxPending))
			return false
		}
		return true // the write under way takes it
	}
	lc.writing = true
	for len(lc.pending) > 0 && err == nil {
		buf := lc.pending
		lc.pending = lc.spare[:0]
		lc.wmu.Unlock()
		lc.conn.SetWriteDeadline(time.Now().Add(programWriteTimeout))
		_, err = lc.conn.Write(buf)
		lc.wmu.Lock()
		if cap(buf) <= 64<<10 { // keep a small buffer for next time, not a large one
			lc.spare = buf[:0]
		} else {
			lc.spare = nil
		}
	}
	lc.writing = false
	lc.wmu.Unlock()
	if err != nil {
		lc.close(err)
		return false
	}
	return true
}

func (lc *lineConn) closed() bool {
	select {
	case <-lc.done:
		return true
	default:
		return false
	}
}

// finish sends v as the last line and closes the connection with why.
func (lc *lineConn) finish(v any, why error) {
	lc.send(v)
	lc.close(why)
}

// close ends the connection, once, remembering why.
func (lc *lineConn) close(why error) {
	lc.once.Do(func() {
		lc.err = why
		close(lc.done)
		lc.conn.Close()
	})
}
