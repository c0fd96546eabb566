package meshtest

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
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
	poll.Until(t, 10*time.Second, func() error { return released(g0, f0, 0, 0) })
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
		poll.Until(t, 10*time.Second, func() error { return released(g0, f0, leakGoroutines, leakFiles) })
	}
}

// released reports, as a *leak, whether more than slack goroutines or open
// files are left over the g0 and f0 counted before.
func released(g0, f0, slackG, slackF int) error {
	g, f := runtime.NumGoroutine(), openFiles()
	if g <= g0+slackG && f <= f0+slackF {
		return nil
	}
	return &leak{g, g0, f, f0}
}

// leak is goroutines and open files left over; its message dumps every
// goroutine's stack, made only when the message is read (on failure).
type leak struct{ g, g0, f, f0 int }

func (l *leak) Error() string {
	buf := make([]byte, 1<<20)
	return fmt.Sprintf("leak: %d goroutines (%d before) and %d open files (%d before)\n%s",
		l.g, l.g0, l.f, l.f0, buf[:runtime.Stack(buf, true)])
}
