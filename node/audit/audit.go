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
	"fmt"
	"io"
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
	// NoRule marks a call that its caller may make with no rule (one in
	// its own personal space, or rpc.allowed), by someone other than the
	// node's own user: budgeted per caller as refusals are (see admit),
	// since anyone on the tailnet may make such calls.
	NoRule bool `json:"-"`
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
	// CallLog, when set, also gets each call as a line of text in the form
	// of slog's TextHandler ("time=... level=INFO msg=call call_id=..."):
	// the node's own log keeps every call id so, written here, off the
	// call's path, rather than by a slog record on it (which cost more than
	// the audit record).
	CallLog io.Writer
}

// Log is an open audit log.
type Log struct {
	path     string
	maxBytes int64

	// queue holds the records waiting for the writer, at most max; the
	// first record into an empty queue wakes the writer, which takes them
	// all at once (a channel of records woke it, and copied, per record).
	mu      sync.Mutex
	queue   []Record
	max     int
	closed  bool
	wake    chan struct{}      // 1 buffered
	dropped atomic.Int64       // since the last "dropped" record
	buckets map[string]*bucket // refusals per caller; see admit
	lost    atomic.Int64       // since Open, for sys.stats
	done    chan struct{}

	closeOnce sync.Once

	f       *os.File
	w       *bufio.Writer
	buf     []byte // the line being written; only the writer touches it
	callLog io.Writer
	lines   []byte // call lines not yet given to callLog
	size    int64
	err     error // the first write error, reported by Close
}

// Open opens (or creates) the log at path and starts its writer.
func Open(path string, opts Options) (*Log, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 10 << 20
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	l := &Log{path: path, maxBytes: opts.MaxBytes, callLog: opts.CallLog, max: opts.Buffer, wake: make(chan struct{}, 1), done: make(chan struct{}),
		buckets: map[string]*bucket{}}
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

// Append queues r, its strings clipped to MaxText (MaxError for Error).
// It never blocks: when the buffer is full, r is dropped and counted. A
// caller's refused calls beyond its budget are counted rather than queued
// (see admit).
func (l *Log) Append(r Record) {
	r = bounded(r)
	l.mu.Lock()
	if !l.closed {
		if summary, ok := l.admit(&r); ok {
			if summary != nil {
				l.enqueue(*summary)
			}
			l.enqueue(r)
		}
	}
	l.mu.Unlock()
}

// enqueue queues r, or drops and counts it when the queue is full. l.mu is
// held.
func (l *Log) enqueue(r Record) {
	if len(l.queue) >= l.max {
		l.dropped.Add(1)
		l.lost.Add(1)
		return
	}
	l.queue = append(l.queue, r)
	if len(l.queue) == 1 {
		select {
		case l.wake <- struct{}{}:
		default: // the writer has a wake-up coming already
		}
	}
}

// Lost counts the records dropped since Open.
func (l *Log) Lost() int64 { return l.lost.Load() }

// Path is the log's file.
func (l *Log) Path() string { return l.path }

// flushDelay bounds how long a record waits in the buffer before it is in
// the file (for `meshrpc audit --follow`): flushing whenever the queue was
// empty made a write(2) per call under load.
const flushDelay = 50 * time.Millisecond

// gatherDelay is the writer's pause after writing, while records queue.
const gatherDelay = time.Millisecond

func (l *Log) write() {
	defer close(l.done)
	flush := time.NewTimer(flushDelay)
	flush.Stop()
	buffered := false
	var batch []Record
	for {
		select {
		case <-l.wake:
		case <-flush.C:
			l.flush()
			buffered = false
			continue
		}
		l.mu.Lock()
		batch, l.queue = l.queue, batch[:0]
		closed := l.closed
		l.mu.Unlock()
		if n := l.dropped.Swap(0); n > 0 {
			l.line(Record{Time: time.Now(), Dropped: n})
		}
		for i := range batch {
			l.line(batch[i])
			if l.callLog != nil {
				l.lines = appendCallLine(l.lines, batch[i])
			}
			batch[i] = Record{} // let its strings go
		}
		l.writeLines()
		if closed {
			l.flush()
			return
		}
		if !buffered {
			buffered = true
			flush.Reset(flushDelay)
		}
		// Under load, let records gather: a round per record costs a
		// wake-up each. An idle node's writer waits for the next record.
		time.Sleep(gatherDelay)
	}
}

// writeLines gives the call lines gathered (only with a call log) to the
// call log, in one write.
func (l *Log) writeLines() {
	if len(l.lines) > 0 {
		l.callLog.Write(l.lines) // the node's log reports its own failures
		l.lines = l.lines[:0]
	}
}

func (l *Log) line(r Record) {
	b := append(appendRecord(l.buf[:0], r), '\n')
	l.buf = b
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
		for _, s := range l.summaries(time.Now()) {
			l.enqueue(s)
		}
		l.closed = true
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
		<-l.done
		if l.f != nil {
			l.keep(l.f.Close())
		}
	})
	return l.err
}
