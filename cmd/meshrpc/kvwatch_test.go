package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/store"
)

// trimmedStore writes a store whose change log has dropped its oldest
// changes: more writes than the log keeps, to eight counters.
func trimmedStore(t *testing.T, path string) {
	t.Helper()
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for range 350 {
				if _, _, err := s.Inc(fmt.Sprintf("n%d", i%8), 1); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// watchLines runs `meshrpc kv watch` and sends each line it prints.
func watchLines(t *testing.T, controlURL string, args ...string) <-chan string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+controlURL)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return lines
}

// A watch from a revision the log has dropped resyncs by itself (the keys
// as they are, then the changes after), while writers go on: every change
// shown once, none missed; from revision 0 it starts at the oldest change
// remembered.
func TestKVWatchResyncsAfterTheLogWasTrimmed(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := t.TempDir()
	data, state := filepath.Join(dir, "kv.db"), filepath.Join(dir, "home")
	trimmedStore(t, data)
	serveHome(t, dn.ControlURL(), state, "--data", data)
	logsOnFailure(t, state)
	cli := []string{"--state-dir", state, "kv"}

	from0 := watchLines(t, dn.ControlURL(), append(cli, "watch", "home", "--after", "0", "--json")...)
	var first struct{ Rev int64 }
	if line, ok := <-from0; !ok || json.Unmarshal([]byte(line), &first) != nil || first.Rev <= 1 {
		t.Fatalf("watch --after 0 on a trimmed log: first line %q", line)
	}

	lines := watchLines(t, dn.ControlURL(), append(cli, "watch", "home", "--after", "5", "--json")...)
	var wg sync.WaitGroup
	for w := range 3 { // concurrent writers
		wg.Go(func() {
			for j := range 5 {
				if r := run(t, dn.ControlURL(), append(cli, "put", "home", fmt.Sprintf("live/%d", w), fmt.Sprint(j))...); r.code != 0 {
					t.Errorf("put: %+v", r)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	last := map[string]string{}
	deadline := time.After(60 * time.Second)
	for len(last) < 3 || last["live/0"] != "4" || last["live/1"] != "4" || last["live/2"] != "4" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("watch ended")
			}
			var ev struct {
				Type, Key string
				Value     json.RawMessage
				Rev       int64
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			id := fmt.Sprintf("%s@%d", ev.Key, ev.Rev)
			if seen[id] {
				t.Fatalf("shown twice: %s", line)
			}
			seen[id] = true
			if strings.HasPrefix(ev.Key, "live/") {
				if prev, ok := last[ev.Key]; ok && fmt.Sprint(mustInt(t, prev)+1) != string(ev.Value) {
					t.Fatalf("%s went from %s to %s: a change missed", ev.Key, prev, ev.Value)
				}
				last[ev.Key] = string(ev.Value)
			}
		case <-deadline:
			t.Fatalf("the watch did not show every write; last values %v", last)
		}
	}
	for i := range 8 {
		if !hasKey(seen, fmt.Sprintf("n%d", i)) {
			t.Errorf("the resync did not list n%d", i)
		}
	}
}

func mustInt(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not an integer", s)
	}
	return n
}

func hasKey(seen map[string]bool, key string) bool {
	for id := range seen {
		if strings.HasPrefix(id, key+"@") {
			return true
		}
	}
	return false
}
