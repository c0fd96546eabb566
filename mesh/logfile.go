package mesh

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
)

// LogFileName is tsnet's log in the state directory when not verbose.
const LogFileName = "tsnet.log"

// maxLogBytes bounds tsnet.log: a file larger than this is started afresh
// when the node starts, so a long-lived home server never fills its disk.
const maxLogBytes = 16 << 20

type logFile struct {
	f *os.File
	l *log.Logger
}

func openLogFile(dir string) (*logFile, error) {
	path := filepath.Join(dir, LogFileName)
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogBytes {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mesh: open log file: %w", err)
	}
	return &logFile{f: f, l: log.New(f, "", log.LstdFlags|log.Lmicroseconds)}, nil
}

func (lf *logFile) Printf(format string, args ...any) { lf.l.Printf(format, args...) }

// Close closes the file; a nil *logFile (verbose mode) is fine.
func (lf *logFile) Close() error {
	if lf == nil {
		return nil
	}
	return lf.f.Close()
}
