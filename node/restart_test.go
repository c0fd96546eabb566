package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/rpc"
)

// restartable returns a function that serves a node "home" on state until
// the function it returns stops it: called again, the node restarts on the
// same state.
func restartable(t *testing.T, dn *devnet.Net, state string) func() (stop func()) {
	return func() (stop func()) {
		n, err := node.New(context.Background(), node.Config{Hostname: "home", StateDir: state, ControlURL: dn.ControlURL(), Progress: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Serve(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
}

// TestRestartWhileCalling restarts the serving node on the same state while
// callers keep incrementing: every call either succeeds or fails with a
// clear unavailable error, calls succeed again once the node is back, and no
// call runs twice: the counter is at least the acknowledged increments and
// at most those plus the calls that were sent but got no reply.
func TestRestartWhileCalling(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	serve := restartable(t, dn, filepath.Join(t.TempDir(), "home"))
	stop := serve()
	c := dialAs(t, dn, "cafe")

	var acked, sentNoReply, unavailable atomic.Int64
	// warm closes once calls flow, so that the stop finds calls in flight;
	// firstAnswer is when the restarted node first answered (unix ns).
	const warmCalls = 20
	warm := make(chan struct{})
	var restarted atomic.Bool
	var firstAnswer atomic.Int64
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := c.Call(ctx, "home", "kv.inc", []any{"n"}, nil)
				cancel()
				var te *rpc.TransportError
				switch {
				case err == nil:
					if acked.Add(1) == warmCalls {
						close(warm)
					}
					if restarted.Load() {
						firstAnswer.CompareAndSwap(0, time.Now().UnixNano())
					}
				case errors.As(err, &te) && te.Sent, rpc.CodeOf(err) == rpc.CodeDeadlineExceeded:
					sentNoReply.Add(1) // may have run: its reply was lost or late
				case rpc.CodeOf(err) == rpc.CodeUnavailable:
					unavailable.Add(1)
				default:
					t.Errorf("a call during the restart failed unclearly: %v", err)
					return
				}
				if err != nil {
					time.Sleep(20 * time.Millisecond) // a pause before the retry, not an order of events
				}
			}
		})
	}
	callersDone := make(chan struct{})
	go func() { wg.Wait(); close(callersDone) }()
	select {
	case <-warm:
	case <-callersDone:
		t.FailNow() // every caller failed before calls flowed; they said why
	}
	t0 := time.Now()
	stop()
	stop = serve()
	back := time.Since(t0)
	restarted.Store(true)
	defer func() { stop() }()
	// Calls succeed again once the node is back.
	before := acked.Load()
	poll.Until(t, 30*time.Second, func() error {
		if acked.Load() < before+50 {
			return fmt.Errorf("calls do not succeed after the restart (acked %d, no reply %d, unavailable %d)", acked.Load(), sentNoReply.Load(), unavailable.Load())
		}
		return nil
	})
	t.Logf("node stopped and back in %v; first call answered %v after the stop", back, time.Unix(0, firstAnswer.Load()).Sub(t0))
	close(quit)
	wg.Wait()
	var n int64
	if err := c.Call(context.Background(), "home", "kv.get", []any{"n"}, &n); err != nil {
		t.Fatal(err)
	}
	if n < acked.Load() || n > acked.Load()+sentNoReply.Load() {
		t.Fatalf("counter %d: %d acknowledged, %d sent without reply; a call ran twice or an acknowledged one was lost", n, acked.Load(), sentNoReply.Load())
	}
	t.Logf("counter %d: %d acknowledged, %d sent without a timely reply, %d unavailable", n, acked.Load(), sentNoReply.Load(), unavailable.Load())
}
