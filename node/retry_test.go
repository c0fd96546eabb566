package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
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
