package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
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

	wmu        sync.Mutex
	pending    []byte // lines waiting for the write under way
	spare      []byte
	writing    bool            // a sender, or drain, is writing
	closeAfter error           // set by finish: why to close once the write ends
	raw        syscall.RawConn // the socket's, for writes that do not wait; nil for other conns

	// inFlight counts the calls under way on the connection, either way;
	// with more than one, a writer yields once before it writes.
	inFlight atomic.Int32

	done chan struct{} // closed by close
	once sync.Once
	err  error // why the connection ended; set before done closes
}

func newLineConn(c net.Conn, r *bufio.Reader) *lineConn {
	if r == nil {
		r = bufio.NewReaderSize(c, 64<<10)
	}
	lc := &lineConn{conn: c, r: r, done: make(chan struct{})}
	if sc, ok := c.(syscall.Conn); ok {
		lc.raw, _ = sc.SyscallConn()
	}
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

// send writes v as one line and reports false when the connection has
// ended. Lines sent while another sender's write is under way wait in
// pending, and that sender writes them too, in one write: a lone line goes
// out at once, and lines sent together share a syscall. A sender never
// waits for the other side to read (see flush). A write that cannot finish
// within programWriteTimeout (the other side stopped reading), or more
// than maxPending waiting, ends the connection.
func (lc *lineConn) send(v any) bool {
	line, err := json.Marshal(v)
	if err != nil {
		line, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32603, "message": "cannot encode: " + err.Error()}})
	}
	return lc.sendLine(line)
}

// sendLine is send for a line already encoded: compact JSON, no newline.
func (lc *lineConn) sendLine(line []byte) bool {
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
	if lc.inFlight.Load() > 1 {
		// Other calls are under way, whose lines may come any moment: let
		// them join this write (a lone call never waits for this).
		lc.wmu.Unlock()
		runtime.Gosched()
		lc.wmu.Lock()
	}
	return lc.flush()
}

// flush writes the pending lines; it is called with wmu held and releases
// it. It writes what the socket takes at once: when the other side reads
// slowly, a goroutine of its own finishes the write (drain), so that a
// sender, which may be a call that must answer by its deadline, never
// waits for the other side to read.
func (lc *lineConn) flush() bool {
	for len(lc.pending) > 0 {
		buf := lc.pending
		lc.pending = lc.spare[:0]
		lc.wmu.Unlock()
		n, err := lc.writeNow(buf)
		if err == nil && n < len(buf) {
			go lc.drain(buf[n:])
			return true
		}
		lc.wmu.Lock()
		if cap(buf) <= 64<<10 { // keep a small buffer for next time, not a large one
			lc.spare = buf[:0]
		} else {
			lc.spare = nil
		}
		if err != nil {
			lc.stopWriting()
			lc.close(err)
			return false
		}
	}
	lc.stopWriting()
	return true
}

// drain finishes a write the socket did not take at once, then writes the
// lines sent meanwhile, allowing each write programWriteTimeout.
func (lc *lineConn) drain(rest []byte) {
	for {
		lc.conn.SetWriteDeadline(time.Now().Add(programWriteTimeout))
		_, err := lc.conn.Write(rest)
		lc.conn.SetWriteDeadline(time.Time{})
		lc.wmu.Lock()
		if err != nil {
			lc.stopWriting()
			lc.close(err)
			return
		}
		if len(lc.pending) == 0 {
			lc.stopWriting()
			return
		}
		// pending may share its array with spare: take it whole.
		rest, lc.pending, lc.spare = lc.pending, nil, nil
		lc.wmu.Unlock()
	}
}

// stopWriting ends the write under way, with wmu held, and releases it;
// a connection that finish left to this write closes now.
func (lc *lineConn) stopWriting() {
	lc.writing = false
	why, closing := lc.closeAfter, lc.closeAfter != nil
	lc.wmu.Unlock()
	if closing {
		lc.close(why)
	}
}

// writeNow writes as much of buf as the socket takes without waiting. A
// connection that is not a socket gets a plain write.
func (lc *lineConn) writeNow(buf []byte) (int, error) {
	if lc.raw == nil {
		lc.conn.SetWriteDeadline(time.Now().Add(programWriteTimeout))
		return lc.conn.Write(buf)
	}
	n := 0
	var werr error
	err := lc.raw.Write(func(fd uintptr) bool {
		for n < len(buf) {
			m, err := syscall.Write(int(fd), buf[n:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true // full: drain waits for room
			case err != nil:
				werr = err
				return true
			}
			n += m
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return n, err
}

func (lc *lineConn) closed() bool {
	select {
	case <-lc.done:
		return true
	default:
		return false
	}
}

// finish sends v as the last line and closes the connection with why,
// once the line is written.
func (lc *lineConn) finish(v any, why error) {
	lc.send(v)
	lc.wmu.Lock()
	if lc.writing { // the write under way takes the line, then closes
		lc.closeAfter = why
		lc.wmu.Unlock()
		return
	}
	lc.wmu.Unlock()
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

// The two lines of every call, written without reflection: a call is
// small, and encoding/json would check its params and result, which are
// known to be valid, once more.

// appendRequest appends req as one line's JSON. req.Params, req.ID and
// the caller's caps must be valid JSON.
func appendRequest(b []byte, req *api.ProgramRequest) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, req.ID...)
	b = append(b, `,"method":`...)
	b = jsonfast.AppendString(b, req.Method)
	if len(req.Params) > 0 {
		b = append(append(b, `,"params":`...), req.Params...)
	}
	if req.Node != "" {
		b = jsonfast.AppendString(append(b, `,"node":`...), req.Node)
	}
	if c := req.Caller; c != nil {
		b = appendCaller(append(b, `,"caller":`...), c)
	}
	if req.TimeoutMs > 0 {
		b = strconv.AppendInt(append(b, `,"timeout_ms":`...), req.TimeoutMs, 10)
	}
	if req.CallID != "" {
		b = jsonfast.AppendString(append(b, `,"call_id":`...), req.CallID)
	}
	return append(b, '}')
}

// appendCaller appends c as json.Marshal would.
func appendCaller(b []byte, c *rpc.Caller) []byte {
	b = jsonfast.AppendString(append(b, `{"node":`...), c.Node)
	if c.NodeFQDN != "" {
		b = jsonfast.AppendString(append(b, `,"node_fqdn":`...), c.NodeFQDN)
	}
	b = jsonfast.AppendString(append(b, `,"login":`...), c.Login)
	if len(c.Tags) > 0 {
		b = jsonfast.AppendStrings(append(b, `,"tags":`...), c.Tags)
	}
	if c.Addr != "" {
		b = jsonfast.AppendString(append(b, `,"addr":`...), c.Addr)
	}
	if len(c.Caps) > 0 {
		caps, _ := json.Marshal(c.Caps)
		b = append(append(b, `,"caps":`...), caps...)
	}
	return append(b, '}')
}

// appendResponse appends an answer of id: result (valid, compact JSON) or
// e.
func appendResponse(b []byte, id, result []byte, e *rpc.Error) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	if e != nil {
		ej, _ := json.Marshal(e)
		return append(append(append(b, `,"error":`...), ej...), '}')
	}
	if len(result) == 0 {
		result = []byte("null")
	}
	return append(append(append(b, `,"result":`...), result...), '}')
}

// decodeRequest reads a call line, the common members without reflection;
// it falls back to encoding/json for anything but the plain form.
func decodeRequest(line []byte) (req api.ProgramRequest, err error) {
	var caller []byte
	plain := jsonfast.Valid(line) && jsonfast.EachMember(line, func(key, val []byte) bool {
		ok := true
		switch string(key) {
		case "jsonrpc":
			req.JSONRPC, ok = jsonfast.PlainString(val)
		case "id":
			req.ID = val
		case "method":
			req.Method, ok = jsonfast.PlainString(val)
		case "params":
			req.Params = val
		case "node":
			req.Node, ok = jsonfast.PlainString(val)
		case "caller":
			caller = val
		case "timeout_ms":
			req.TimeoutMs, ok = jsonfast.PlainInt(val)
		case "call_id":
			req.CallID, ok = jsonfast.PlainString(val)
		}
		return ok
	})
	if !plain {
		req = api.ProgramRequest{}
		return req, json.Unmarshal(line, &req)
	}
	if caller != nil && string(caller) != "null" {
		req.Caller = new(rpc.Caller)
		if !decodeCaller(caller, req.Caller) {
			*req.Caller = rpc.Caller{}
			if err := json.Unmarshal(caller, req.Caller); err != nil {
				return req, err
			}
		}
	}
	return req, nil
}

// decodeCaller reads a caller as appendCaller writes it, without
// reflection: it travels with every call. It reports false for anything
// else (caps, escapes, a member it does not know), left to encoding/json.
func decodeCaller(raw []byte, c *rpc.Caller) bool {
	return jsonfast.EachMember(raw, func(key, val []byte) bool {
		ok := true
		switch string(key) {
		case "node":
			c.Node, ok = jsonfast.PlainString(val)
		case "node_fqdn":
			c.NodeFQDN, ok = jsonfast.PlainString(val)
		case "login":
			c.Login, ok = jsonfast.PlainString(val)
		case "addr":
			c.Addr, ok = jsonfast.PlainString(val)
		case "tags":
			var items []json.RawMessage
			if items, ok = jsonfast.SplitArray(val); !ok {
				return false
			}
			c.Tags = make([]string, len(items))
			for i, item := range items {
				if c.Tags[i], ok = jsonfast.PlainString(item); !ok {
					return false
				}
			}
		default:
			ok = false
		}
		return ok
	})
}
