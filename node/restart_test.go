package node_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
					acked.Add(1)
				case errors.As(err, &te) && te.Sent, rpc.CodeOf(err) == rpc.CodeDeadlineExceeded:
					sentNoReply.Add(1) // may have run: its reply was lost or late
				case rpc.CodeOf(err) == rpc.CodeUnavailable:
					unavailable.Add(1)
				default:
					t.Errorf("a call during the restart failed unclearly: %v", err)
					return
				}
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	stop()
	stop = serve()
	back := time.Since(t0)
	defer func() { stop() }()
	// Calls succeed again once the node is back.
	before := acked.Load()
	deadline := time.Now().Add(30 * time.Second)
	for acked.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	t.Logf("node stopped and back in %v; first call answered %v after the stop", back, time.Since(t0))
	for acked.Load() < before+50 {
		if time.Now().After(deadline) {
			t.Fatalf("calls do not succeed after the restart (acked %d, no reply %d, unavailable %d)", acked.Load(), sentNoReply.Load(), unavailable.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
