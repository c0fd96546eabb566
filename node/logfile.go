package node

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"
)

// logFile is the node's call log: buffered, flushed every half second and
// on Close, so that logging a call costs no write system call. It is
// rotated by size while the node runs (one previous file is kept, as
// PATH.1): what callers make the node log cannot fill the disk.
type logFile struct {
	path     string
	maxBytes int64

	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	size int64 // of the file, buffered bytes included
	err  error // the first rotation failure; writes are dropped after it
	stop chan struct{}
	done chan struct{}
}

const maxLogBytes = 32 << 20 // rotated beyond this size

func openLogFile(path string) (*logFile, error) {
	l := &logFile{path: path, maxBytes: maxLogBytes, stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.open(); err != nil {
		return nil, err
	}
	if l.size > l.maxBytes {
		l.rotate()
		if l.err != nil {
			return nil, l.err
		}
	}
	go l.flushLoop()
	return l, nil
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("node: open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("node: open log: %w", err)
	}
	l.f, l.w, l.size = f, bufio.NewWriterSize(f, 64<<10), fi.Size()
	return nil
}

// rotate moves the log to PATH.1 and starts a new one. l.mu is held (or
// the log not yet shared).
func (l *logFile) rotate() {
	l.w.Flush()
	l.f.Close()
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		l.err = fmt.Errorf("node: rotate log: %w", err)
	}
	if err := l.open(); err != nil && l.err == nil {
		l.err = err
	}
	if l.err != nil {
		l.f, l.w = nil, nil
	}
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil && l.size > 0 && l.size+int64(len(p)) > l.maxBytes {
		l.rotate()
	}
	if l.w == nil {
		return 0, l.err
	}
	n, err := l.w.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *logFile) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			if l.w != nil {
				l.w.Flush()
			}
			l.mu.Unlock()
		case <-l.stop:
			return
		}
	}
}

// Close flushes and closes; a nil *logFile is fine.
func (l *logFile) Close() error {
	if l == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return l.err
	}
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
