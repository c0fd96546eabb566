package node

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// What callers make the node log cannot fill the disk: meshrpc.log is
// rotated by size while it is written, keeping one previous file.
func TestLogFileIsRotatedWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meshrpc.log")
	l, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l.maxBytes = 64 << 10
	line := append(bytes.Repeat([]byte("x"), 999), '\n')
	for range 1000 { // 1 MB in all
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() == 0 || fi.Size() > 64<<10 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, %v", p, fi, err)
		}
	}
}
