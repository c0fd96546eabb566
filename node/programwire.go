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
// limit, and lines written by a goroutine of their own that flushes when
// nothing more waits, so that many answers share a write.

// Limits of a program's connection.
const (
	// MaxProgramLine is the longest line either side may send: a call's
	// params or a result, with room for the largest store value.
	MaxProgramLine = 8 << 20
	// programWriteTimeout bounds a write to a program that stopped reading.
	programWriteTimeout = 10 * time.Second
	programQueue        = 256 // lines waiting to be written
)

var errLineTooLong = fmt.Errorf("a line longer than %d bytes (the limit of a program's connection)", MaxProgramLine)

type lineConn struct {
	conn net.Conn
	r    *bufio.Reader
	out  chan []byte
	done chan struct{} // closed by close
	once sync.Once
	err  error // why the connection ended; set before done closes

	lastWord error // finish's why
}

func newLineConn(c net.Conn, r *bufio.Reader) *lineConn {
	if r == nil {
		r = bufio.NewReaderSize(c, 64<<10)
	}
	lc := &lineConn{conn: c, r: r, out: make(chan []byte, programQueue), done: make(chan struct{})}
	go lc.writeLoop()
	return lc
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

// send queues v, as one line, and reports false when the connection has
// ended or stop closes first.
func (lc *lineConn) send(v any, stop <-chan struct{}) bool {
	line, err := json.Marshal(v)
	if err != nil {
		line, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32603, "message": "cannot encode: " + err.Error()}})
	}
	select {
	case lc.out <- append(line, '\n'):
		return true
	case <-lc.done:
	case <-stop:
	}
	return false
}

// sendNow queues v if there is room, and drops it otherwise: for notices
// to a program that may not be reading.
func (lc *lineConn) sendNow(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		return
	}
	select {
	case lc.out <- append(line, '\n'):
	default:
	}
}

func (lc *lineConn) writeLoop() {
	w := bufio.NewWriterSize(lc.conn, 64<<10)
	for {
		select {
		case line := <-lc.out:
			if line == nil {
				w.Flush()
				lc.close(lc.lastWord)
				return
			}
			lc.conn.SetWriteDeadline(time.Now().Add(programWriteTimeout))
			if _, err := w.Write(line); err != nil {
				lc.close(err)
				return
			}
			if len(lc.out) == 0 {
				if err := w.Flush(); err != nil {
					lc.close(err)
					return
				}
			}
		case <-lc.done:
			return
		}
	}
}

// finish sends v as the last line, then closes the connection with why
// once it is written (or the write fails or times out).
func (lc *lineConn) finish(v any, why error) {
	lc.lastWord = why // read by the writer after it receives the nil below
	if lc.send(v, nil) {
		select {
		case lc.out <- nil: // the writer closes on nil
		case <-lc.done:
		}
	}
	<-lc.done
}

// close ends the connection, once, remembering why.
func (lc *lineConn) close(why error) {
	lc.once.Do(func() {
		lc.err = why
		close(lc.done)
		lc.conn.Close()
	})
}
