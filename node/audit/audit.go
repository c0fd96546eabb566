// Package audit appends every call a node answers, allowed or denied, to a
// log of JSON lines in the node's state directory, so the owner can see who
// called what, when, and with what outcome.
//
// Writing never holds a call up for long: records go through a bounded
// buffer to one writer goroutine. When the buffer is full a record is
// dropped and counted, and the count is written into the log as a record
// of its own, so a gap is never silent. The file is 0600 and rotated by
// size (one previous file is kept, as PATH.1).
package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one line of the log.
type Record struct {
	Time       time.Time `json:"time"`
	CallID     string    `json:"call_id,omitempty"`
	Node       string    `json:"node,omitempty"`  // the caller's node
	Login      string    `json:"login,omitempty"` // the caller's user
	Tags       []string  `json:"tags,omitempty"`
	Addr       string    `json:"addr,omitempty"`
	Method     string    `json:"method,omitempty"`
	Key        string    `json:"key,omitempty"` // for kv.*: the key or prefix
	Outcome    string    `json:"outcome,omitempty"`
	Code       int       `json:"code,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMs float64   `json:"duration_ms,omitempty"`
	Replayed   bool      `json:"replayed,omitempty"`
	// Dropped, on a record of its own, counts the records lost to a full
	// buffer just before it.
	Dropped int64 `json:"dropped,omitempty"`
}

// Outcomes of a call.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeError  = "error"
)

// Options bound the log; the zero value means the defaults.
type Options struct {
	MaxBytes int64 // rotate beyond this size; default 10 MiB
	Buffer   int   // records waiting to be written; default 4096
}

// Log is an open audit log.
type Log struct {
	path     string
	maxBytes int64

	ch      chan Record
	dropped atomic.Int64 // since the last "dropped" record
	lost    atomic.Int64 // since Open, for sys.stats
	done    chan struct{}

	closeOnce sync.Once
	mu        sync.RWMutex // guards closed: Appends share it, Close takes it
	closed    bool

	f    *os.File
	w    *bufio.Writer
	size int64
	err  error // the first write error, reported by Close
}

// Open opens (or creates) the log at path and starts its writer.
func Open(path string, opts Options) (*Log, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	l := &Log{path: path, maxBytes: opts.MaxBytes, ch: make(chan Record, opts.Buffer), done: make(chan struct{})}
	if err := l.open(); err != nil {
		return nil, err
	}
	go l.write()
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	f.Chmod(0o600) // a file made by an older, laxer version
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	l.f, l.w, l.size = f, bufio.NewWriterSize(f, 64<<10), fi.Size()
	return nil
}

// Append queues r. It never blocks: when the buffer is full, r is dropped
// and counted.
func (l *Log) Append(r Record) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.ch <- r:
	default:
		l.dropped.Add(1)
		l.lost.Add(1)
	}
}

// Lost counts the records dropped since Open.
func (l *Log) Lost() int64 { return l.lost.Load() }

// Path is the log's file.
func (l *Log) Path() string { return l.path }

func (l *Log) write() {
	defer close(l.done)
	for r := range l.ch {
		if n := l.dropped.Swap(0); n > 0 {
			l.line(Record{Time: time.Now(), Dropped: n})
		}
		l.line(r)
		if len(l.ch) == 0 { // a lull: make what we have visible
			l.flush()
		}
	}
	if n := l.dropped.Swap(0); n > 0 {
		l.line(Record{Time: time.Now(), Dropped: n})
	}
	l.flush()
}

func (l *Log) line(r Record) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	b = append(b, '\n')
	if l.size+int64(len(b)) > l.maxBytes && l.size > 0 {
		l.rotate()
	}
	if l.f == nil {
		return
	}
	n, err := l.w.Write(b)
	l.size += int64(n)
	l.keep(err)
}

// rotate moves the log to PATH.1 and starts a new one.
func (l *Log) rotate() {
	l.flush()
	l.keep(l.f.Close())
	l.keep(os.Rename(l.path, l.path+".1"))
	if err := l.open(); err != nil {
		l.keep(err)
		l.f, l.w = nil, nil
	}
}

func (l *Log) flush() {
	if l.w != nil {
		l.keep(l.w.Flush())
	}
}

func (l *Log) keep(err error) {
	if err != nil && l.err == nil {
		l.err = fmt.Errorf("audit: %w", err)
	}
}

// Close writes what is queued and closes the file. It is idempotent.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.ch)
		l.mu.Unlock()
		<-l.done
		if l.f != nil {
			l.keep(l.f.Close())
		}
	})
	return l.err
}
