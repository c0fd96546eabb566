package store_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/store"
)

// The crash test's child: it writes in a loop from several goroutines and
// prints each write once it is acknowledged, until it is killed.
func init() {
	path := os.Getenv("MESHRPC_STORE_CRASH_CHILD")
	if path == "" {
		return
	}
	s, err := store.Open(path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	ack := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		mu.Unlock()
	}
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d/%d", w, i)
				if _, err := s.Put(key, json.RawMessage(strconv.Itoa(i))); err != nil {
					return
				}
				ack("put %s", key)
				req := fmt.Sprintf("%d/w%d/%d", os.Getpid(), w, i)
				n, _, err := s.For(req).Inc("counter", 1)
				if err != nil {
					return
				}
				ack("inc %s %d", req, n)
			}
		}()
	}
	select {}
}

// TestAcknowledgedWritesSurviveSIGKILL kills a writing process at a random
// moment, 20 times, and checks after each that every write it acknowledged
// is in the reopened store, and that its last increments, asked again for
// the same requests (as a client's retries would), are answered with their
// first values and not made again.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	path := filepath.Join(t.TempDir(), "kv.db")
	acked := map[string]bool{}
	incs := 0
	for trial := range 20 {
		var lastIncs []string // "request value", the trial's last ones
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "MESHRPC_STORE_CRASH_CHILD="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		kill := time.After(time.Duration(50+rand.IntN(250)) * time.Millisecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				switch {
				case strings.HasPrefix(l, "inc "):
					incs++
					lastIncs = append(lastIncs, l[4:])
					if len(lastIncs) > 20 {
						lastIncs = lastIncs[1:]
					}
				case strings.HasPrefix(l, "put "):
					acked[l[4:]] = true
				default:
					t.Fatalf("child: %s", l)
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			}
		}
		cmd.Wait()

		s, err := store.Open(path, nil)
		if err != nil {
			t.Fatalf("trial %d: reopen after SIGKILL: %v", trial, err)
		}
		for key := range acked {
			if _, ok, err := s.Get(key); !ok || err != nil {
				t.Fatalf("trial %d: acknowledged write %s lost (%v)", trial, key, err)
			}
		}
		e, _, _ := s.Get("counter")
		n, _ := strconv.Atoi(string(e.Value))
		if n < incs {
			t.Fatalf("trial %d: counter %d, but %d increments were acknowledged", trial, n, incs)
		}
		for _, l := range lastIncs {
			req, first, _ := strings.Cut(l, " ")
			if v, _, err := s.For(req).Inc("counter", 1); err != nil || strconv.FormatInt(v, 10) != first {
				t.Fatalf("trial %d: increment %s asked again: %d, %v; its first answer was %s", trial, req, v, err, first)
			}
		}
		if e, _, _ := s.Get("counter"); string(e.Value) != strconv.Itoa(n) {
			t.Fatalf("trial %d: asking acknowledged increments again moved the counter from %d to %s", trial, n, e.Value)
		}
		incs = n // unacknowledged increments may have landed; count from here
		s.Close()
	}
	t.Logf("20 trials, %d acknowledged puts, all present", len(acked))
}
