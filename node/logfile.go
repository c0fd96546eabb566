package node

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"
)

// logFile is the node's call log: buffered, flushed every half second and
// on Close, so that logging a call costs no write system call.
type logFile struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

const maxLogBytes = 32 << 20 // started afresh at open when larger

func openLogFile(path string) (*logFile, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogBytes {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: open log: %w", err)
	}
	l := &logFile{f: f, w: bufio.NewWriterSize(f, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushLoop()
	return l, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *logFile) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.mu.Lock()
			l.w.Flush()
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
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
