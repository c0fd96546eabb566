package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rs []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestConcurrentAppendsAllLandAndTheFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{Buffer: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				l.Append(Record{Time: time.Now(), Method: "kv.inc", Node: "n", Code: g, DurationMs: float64(i)})
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if rs := readRecords(t, path); len(rs) != 8000 {
		t.Fatalf("%d records, want 8000", len(rs))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	l.Append(Record{Method: "after close"}) // ignored, no panic
}

func TestOverflowIsCountedInTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 10000 {
		l.Append(Record{Method: "sys.ping"})
	}
	lost := l.Lost()
	l.Close()
	if lost == 0 {
		t.Skip("the writer kept up with a one-record buffer; nothing to count")
	}
	var written, dropped int64
	for _, r := range readRecords(t, path) {
		if r.Dropped > 0 {
			dropped += r.Dropped
		} else {
			written++
		}
	}
	if dropped != lost || written+dropped != 10000 {
		t.Fatalf("written %d + dropped %d (Lost %d); want 10000 in all", written, dropped, lost)
	}
}

func TestRotationKeepsOnePreviousFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{MaxBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		l.Append(Record{Method: "kv.put", Key: "some/key/of/a/fair/length"})
	}
	l.Close()
	cur, prev := readRecords(t, path), readRecords(t, path+".1")
	if len(cur) == 0 || len(prev) == 0 {
		t.Fatalf("current %d, previous %d records", len(cur), len(prev))
	}
	for _, p := range []string{path, path + ".1"} {
		if fi, _ := os.Stat(p); fi.Size() > 4096 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %d bytes, mode %v", p, fi.Size(), fi.Mode().Perm())
		}
	}
}
