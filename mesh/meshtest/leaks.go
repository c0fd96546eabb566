package meshtest

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// CheckReleased runs round twice and fails the test unless the second run
// ends with no more goroutines and open files (sockets included) than the
// first: the first starts whatever tsnet keeps for the whole process, the
// second must give back all it takes. Counts are given 10 s to settle.
func CheckReleased(t testing.TB, round func()) {
	t.Helper()
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd to count open files")
	}
	round()
	g0, f0 := settled()
	round()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), openFiles()
		if g <= g0 && f <= f0 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after the second round: %d goroutines (was %d), %d open files (was %d)\n%s",
				g, g0, f, f0, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settled waits until goroutine and file counts stop changing for half a
// second (at most 10 s) and returns them.
func settled() (int, int) {
	g, f, same := -1, -1, 0
	for i := 0; i < 100 && same < 5; i++ {
		ng, nf := runtime.NumGoroutine(), openFiles()
		if ng == g && nf == f {
			same++
		} else {
			same = 0
		}
		g, f = ng, nf
		time.Sleep(100 * time.Millisecond)
	}
	return g, f
}

func openFiles() int {
	entries, _ := os.ReadDir("/proc/self/fd")
	return len(entries)
}

// leakSlack is what a test may leave behind without being called leaky:
// process-wide goroutines and files that packages start once, on first
// use, and keep (an HTTP/2 or DNS cache, a timer). A leaked node or
// connection is far larger: a tsnet node alone runs over a hundred
// goroutines.
const leakGoroutines, leakFiles = 12, 6

// baseline notes the goroutines and open files now and returns the check
// to run when the test's cleanups are done.
func baseline(t testing.TB) func() {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		return func() {}
	}
	g0, f0 := runtime.NumGoroutine(), openFiles()
	return func() {
		if t.Failed() {
			return // the failure is the news; a leak may follow from it
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			g, f := runtime.NumGoroutine(), openFiles()
			if g <= g0+leakGoroutines && f <= f0+leakFiles {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("leak: after the test, %d goroutines (%d before it) and %d open files (%d before)\n%s",
					g, g0, f, f0, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
