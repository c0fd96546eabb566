package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/meshrpc/meshrpc/rpc"
)

// A call that runs out of time says what it was waiting for.
func TestTimeoutSaysWhatWasWaitedFor(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("peers: %w", context.DeadlineExceeded),
			"sys.ping on home: the tailnet did not answer before the timeout (--timeout)"},
		{&rpc.TransportError{Addr: "home:4343", Method: "sys.ping", Err: context.DeadlineExceeded},
			"sys.ping on home: no connection to home's meshrpc before the timeout (--timeout): is home up, and running meshrpc serve?"},
		{&rpc.TransportError{Addr: "home:4343", Method: "sys.ping", Sent: true, Err: context.DeadlineExceeded},
			"sys.ping on home: the call was sent, but no answer came before the timeout (--timeout); it may still be running there"},
	} {
		err := callError("home", "sys.ping", tc.err)
		if _, ok := err.(unreachableError); !ok || err.Error() != tc.want {
			t.Errorf("callError(%v) = %v (%T); want %q, exit 3", tc.err, err, err, tc.want)
		}
	}
}
