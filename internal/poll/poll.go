// Package poll waits in tests for a state they cannot be told about: a
// peer appearing, a grant arriving, a log flushed. It is for tests only; an
// event a test can be told about is waited for on a channel instead.
package poll

import (
	"testing"
	"time"
)

// Until checks cond until it returns nil and fails the test if it has not
// within the given time, with cond's last error as the message: cond says
// what is still missing ("2 audit records, want 3"), not just that
// something is. Checks start 1 ms apart and back off to 100 ms.
//
// cond runs on the test's goroutine, so it may call t.Fatal itself when
// waiting longer is pointless (the process being waited on has exited).
func Until(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v (waited %v)", err, within)
		}
		time.Sleep(pause)
	}
}
