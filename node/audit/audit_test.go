package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// TestRecordsEncodeAsEncodingJSONWould: the hand-written encoder writes
// the bytes json.Marshal writes, tricky strings included.
func TestRecordsEncodeAsEncodingJSONWould(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 1, 2, 345678900, time.FixedZone("X", 3600))
	for _, r := range []Record{
		{Time: at},
		{Time: at.UTC(), CallID: "0f7c", Node: "cafe", Login: "user@example.com", Tags: []string{"tag:a", "tag:b"}, Addr: "100.64.0.2:41000",
			Method: "kv.inc", Key: "shared/visits", Outcome: OutcomeOK, DurationMs: 0.123, Replayed: true},
		{Time: at, Method: "kv.put", Key: "quote\" back\\slash <tag> & \x01\n", Outcome: OutcomeDenied, Code: -32001, Error: "permission denied: café ☕ \u2028"},
		{Time: at, Key: "bad utf-8 \xff\xfe", DurationMs: 1234567.5},
		{Time: at, DurationMs: 1e-9},
		{Time: at, DurationMs: 3e21, Tags: []string{}},
		{Time: at, Dropped: 17},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRecord(nil, r); string(got) != string(want) {
			t.Errorf("appendRecord\n got %s\nwant %s", got, want)
		}
	}
}

func FuzzRecordEncoding(f *testing.F) {
	f.Add("kv.inc", "shared/<x>", "caf\xc3\xa9", 0.5, int64(3))
	f.Fuzz(func(t *testing.T, method, key, msg string, ms float64, dropped int64) {
		r := Record{Time: time.Unix(0, dropped).UTC(), Method: method, Key: key, Error: msg, Tags: []string{key}, DurationMs: ms, Dropped: dropped}
		want, err := json.Marshal(r)
		if err != nil {
			return // NaN and infinities: json.Marshal refuses them; durations are neither
		}
		if got := appendRecord(nil, r); string(got) != string(want) {
			t.Fatalf("appendRecord\n got %s\nwant %s", got, want)
		}
	})
}

// TestCallLinesReadLikeSlog: a call line is what slog's TextHandler writes
// for the call log's record.
func TestCallLinesReadLikeSlog(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 1, 2, 345678900, time.UTC)
	for _, r := range []Record{
		{Time: at, CallID: "0f7c-1", Node: "cafe", Login: "user@example.com", Method: "kv.inc", DurationMs: 0.123},
		{Time: at, CallID: "0f7c-2", Login: "alice@github", Method: "kv.put", Code: -32001, Error: `permission denied: "cafe" may not call kv.put`, DurationMs: 12.5, Replayed: true},
	} {
		var want bytes.Buffer
		rec := slog.NewRecord(r.Time, slog.LevelInfo, "call", 0)
		caller, outcome := r.Node, "ok"
		if caller == "" {
			caller = r.Login
		}
		if r.Code != 0 {
			outcome = r.Error
		}
		rec.AddAttrs(slog.String("call_id", r.CallID), slog.String("caller", caller), slog.String("login", r.Login), slog.String("method", r.Method),
			slog.Duration("duration", time.Duration(r.DurationMs*1e6)), slog.Int("code", r.Code), slog.String("outcome", outcome), slog.Bool("replayed", r.Replayed))
		slog.NewTextHandler(&want, nil).Handle(context.Background(), rec)
		if got := appendCallLine(nil, r); string(got) != want.String() {
			t.Errorf("call line\n got %s\nwant %s", got, want.String())
		}
	}
}

// A flood of refused calls with large names from one caller, and of calls
// in its own personal space, neither grows the records nor rotates the
// owner's earlier record out of the log: the caller's records beyond its
// budget are summary records that count them.
func TestRefusalFloodKeepsTheOwnersHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{MaxBytes: 1 << 20, Buffer: 100000})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(Record{Time: time.Now(), Node: "laptop", Login: "owner@example.com", Method: "kv.put", Key: "backups/all", Outcome: OutcomeOK})
	huge := string(bytes.Repeat([]byte("x\n\x1b"), 10<<10))
	const flood = 20000
	for range flood {
		l.Append(Record{Time: time.Now(), Node: "stranger", Addr: "100.64.0.9:1234", Method: huge, Key: huge, Outcome: OutcomeDenied, Code: -32001,
			Error: "permission denied: stranger may not call " + huge})
		l.Append(Record{Time: time.Now(), Node: "stranger", Login: "s@example.com", Addr: "100.64.0.9:1234", Method: "kv.put",
			Key: "~s@example.com/" + huge, Outcome: OutcomeOK, NoRule: true})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var owner bool
	var written, suppressed int
	counts := regexp.MustCompile(`^(?:(\d+) more refused calls)?(?: and )?(?:(\d+) more calls that need no rule \(on its own keys, rpc.allowed\))? from this caller`)
	for _, r := range readRecords(t, path) {
		switch {
		case r.Node == "laptop":
			owner = true
		case r.Outcome == OutcomeDenied || r.Outcome == OutcomeOK:
			written++
			if len(r.Method) > MaxText+32 || len(r.Key) > MaxText+32 || len(r.Error) > MaxError+32 {
				t.Fatalf("a record of %d, %d, %d bytes", len(r.Method), len(r.Key), len(r.Error))
			}
		case r.Outcome == OutcomeSuppressed:
			m := counts.FindStringSubmatch(r.Error)
			if m == nil {
				t.Fatalf("summary %q", r.Error)
			}
			for _, n := range m[1:] {
				k, _ := strconv.Atoi(n)
				suppressed += k
			}
		}
	}
	if !owner {
		fi, _ := os.Stat(path + ".1")
		t.Fatalf("the owner's record was rotated away (.1 made: %v)", fi != nil)
	}
	if written > refusalBurst+1 || written+suppressed != 2*flood {
		t.Fatalf("%d records written, %d suppressed; want at most %d written and %d in all", written, suppressed, refusalBurst+1, 2*flood)
	}
}

func TestClipMarksWhatItCut(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"kv.get", 256, "kv.get"},
		{"abcdef", 3, "abc...[3 more bytes]"},
		{"caféx", 4, "caf...[3 more bytes]"}, // é is not split
	} {
		if got := Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
