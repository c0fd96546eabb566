package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/rpc"
)

// replyDropper sits between a client and the node: on the first connection
// it passes the request on, and when the reply comes back it cuts the
// connection instead of delivering it, as a network that fails at the worst
// moment would.
type replyDropper struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	dropped atomic.Bool
}

func (d *replyDropper) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.dial(ctx, network, addr)
	if err != nil || d.dropped.Load() {
		return c, err
	}
	return &dropConn{Conn: c, d: d}, nil
}

type dropConn struct {
	net.Conn
	d *replyDropper
}

func (c *dropConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if bytes.Contains(p[:n], []byte(`"result"`)) && c.d.dropped.CompareAndSwap(false, true) {
		c.Conn.Close()
		return 0, fmt.Errorf("reply dropped by the test")
	}
	return n, err
}

// A kv.inc whose reply is lost is retried with the same call id, and the
// node answers the retry with the first outcome: the counter goes up once.
func TestRetriedIncWhoseReplyWasLostCountsOnce(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home"})
	cafe := meshtest.Join(t, dn, mesh.Config{Hostname: "cafe"})
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			d := &replyDropper{dial: cafe.Dial}
			c := rpc.NewClient(rpc.ClientConfig{Addr: "home:4343", Dial: d.Dial, Stream: stream, Retries: 3})
			defer c.Close()
			key := fmt.Sprintf("n-%v", stream)
			var n int64
			if err := c.Call(context.Background(), "kv.inc", map[string]any{"key": key}, &n); err != nil {
				t.Fatal(err)
			}
			if !d.dropped.Load() {
				t.Fatal("no reply was dropped: the test proves nothing")
			}
			var got int64
			if err := c.Call(context.Background(), "kv.get", []string{key}, &got); err != nil || n != 1 || got != 1 {
				t.Fatalf("kv.inc answered %d, the counter is %d (%v); want 1 and 1", n, got, err)
			}
		})
	}
}

// TestRetryAfterARestartCountsOnce: a kv.inc runs, its reply is lost, the
// node restarts (its memory of calls gone), and the call is retried with the
// same call id: the store remembers the request with the write it made, so
// the retry is answered with the first outcome and the counter goes up once.
func TestRetryAfterARestartCountsOnce(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	serve := restartable(t, dn, filepath.Join(t.TempDir(), "home"))
	stop := serve()
	cafe := meshtest.Join(t, dn, mesh.Config{Hostname: "cafe"})
	ctx := rpc.WithCallID(context.Background(), "inc-then-restart")

	d := &replyDropper{dial: cafe.Dial}
	first := rpc.NewClient(rpc.ClientConfig{Addr: "home:4343", Dial: d.Dial})
	err := first.Call(ctx, "kv.inc", []string{"n"}, nil)
	first.Close()
	if !d.dropped.Load() || err == nil {
		t.Fatalf("the first attempt's reply was not lost (%v): the test proves nothing", err)
	}
	stop()
	stop = serve()
	defer stop()

	// The retry: a new client (as after a crash of the caller too) sends
	// the same call id and the same JSON-RPC id.
	retry := rpc.NewClient(rpc.ClientConfig{Addr: "home:4343", Dial: cafe.Dial, Retries: 5})
	defer retry.Close()
	var n, got int64
	if err := retry.Call(ctx, "kv.inc", []string{"n"}, &n); err != nil {
		t.Fatal(err)
	}
	if err := retry.Call(context.Background(), "kv.get", []string{"n"}, &got); err != nil || n != 1 || got != 1 {
		t.Fatalf("the retry answered %d, the counter is %d (%v); want 1 and 1", n, got, err)
	}
	if err := retry.Call(rpc.WithCallID(context.Background(), "another"), "kv.inc", []string{"n"}, &n); err != nil || n != 2 {
		t.Fatalf("a new call: %d, %v; want 2", n, err)
	}
}

// A provided procedure's reply is lost and the call retried: the node
// answers the retry from its memory, and the program runs the call once.
func TestRetriedCallOfAProgramRunsOnce(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := filepath.Join(t.TempDir(), "home")
	home := startNode(t, dn, node.Config{Hostname: "home", StateDir: dir, InMemory: true})
	cafe := meshtest.Join(t, dn, mesh.Config{Hostname: "cafe"})

	var runs atomic.Int64
	reg := rpc.NewRegistry()
	rpc.Register(reg, "counter.inc", "Counts.", func(ctx context.Context, _ struct{}) (int64, error) {
		return runs.Add(1), nil
	})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go node.Provide(ctx, node.ProviderConfig{Name: "counter", StateDir: dir}, reg)
	waitProvided(t, home, "counter.inc", true)

	d := &replyDropper{dial: cafe.Dial}
	c := rpc.NewClient(rpc.ClientConfig{Addr: "home:4343", Dial: d.Dial, Retries: 3})
	defer c.Close()
	var n int64
	if err := c.Call(context.Background(), "counter.inc", nil, &n); err != nil {
		t.Fatal(err)
	}
	if !d.dropped.Load() {
		t.Fatal("no reply was dropped: the test proves nothing")
	}
	if n != 1 || runs.Load() != 1 {
		t.Fatalf("the retry answered %d; the program ran %d times; want 1 and 1", n, runs.Load())
	}
}
