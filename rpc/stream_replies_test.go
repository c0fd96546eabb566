package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/rpc"
)

// TestPeerThatNeverReadsRepliesHoldsOnlyItsShare: over the tailnet, a peer
// sends packs of calls whose replies are large (64 x 256 KiB a pack) on a
// stream and never reads a reply. The server starts no more calls once its
// source's share of replies waits to be written (MaxReadingPerSource),
// and past four times that closes the stream (1008), instead of reading
// every pack and holding their replies; another peer's calls go on, and
// every byte held is given back.
func TestPeerThatNeverReadsRepliesHoldsOnlyItsShare(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home", "cafe", "owner")
	srv, cafe, owner := nodes[0], nodes[1], nodes[2]
	ln, err := srv.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	reg := testRegistry()
	big := strings.Repeat("x", 256<<10)
	var made atomic.Int64 // replies made for the attacker
	rpc.Register(reg, "big", "256 KiB of text.", func(ctx context.Context, _ struct{}) (string, error) {
		made.Add(1)
		return big, nil
	})
	const share = 1 << 20
	s := rpc.NewServer(rpc.Config{Registry: reg, MaxReadingPerSource: share, MaxReadingBytes: 4 * share})
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	hc := &http.Client{Transport: &http.Transport{DialContext: cafe.Dial}}
	conn, _, err := websocket.Dial(ctx, "ws://"+srv.Addr().String()+":4343/rpc",
		&websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{rpc.PackSubprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	var pack strings.Builder
	pack.WriteString("[")
	for i := range 64 {
		if i > 0 {
			pack.WriteString(",")
		}
		fmt.Fprintf(&pack, `{"jsonrpc":"2.0","id":%d,"method":"big"}`, i)
	}
	pack.WriteString("]")
	const packs = 40 // 640 MiB of replies, were they all made
	go func() {
		for range packs {
			if conn.Write(ctx, websocket.MessageText, []byte(pack.String())) != nil {
				return
			}
		}
	}()

	// The server closes the stream, having made the replies of a few packs
	// at most.
	poll.Until(t, time.Minute, func() error {
		if n := rpc.OpenStreams(s); n > 0 {
			return fmt.Errorf("%d streams open, %d bytes of replies held", n, rpc.RepliesHeld(s))
		}
		return nil
	})
	if n := made.Load(); n >= packs*64/2 {
		t.Fatalf("the server made %d of the %d replies of a peer that reads none", n, packs*64)
	}
	t.Logf("replies made before the stream was closed: %d of %d", made.Load(), packs*64)
	if held := rpc.RepliesHeld(s); held != 0 {
		t.Fatalf("%d bytes of replies still held after the stream closed", held)
	}

	c := rpc.NewClient(rpc.ClientConfig{Addr: srv.Addr().String() + ":4343", Dial: owner.Dial})
	defer c.Close()
	var got string
	if err := c.Call(ctx, "big", nil, &got); err != nil || len(got) != len(big) {
		t.Fatalf("another peer's call: %d bytes, %v", len(got), err)
	}
	// The attacker, reading at last, finds its stream ended.
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("the attacker's stream is still open")
			}
			break
		}
	}
}

// TestCallerThatReadsLargeRepliesIsServed: a caller that reads its replies
// is never cut off by the reply budget, even with 64 calls of 512 KiB
// replies in flight at once on its stream (32 MiB, twice its share: the
// calls running when it reaches its share finish, and no more start).
func TestCallerThatReadsLargeRepliesIsServed(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home", "cafe")
	srv, cafe := nodes[0], nodes[1]
	ln, err := srv.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	reg := testRegistry()
	big := strings.Repeat("x", 512<<10)
	rpc.Register(reg, "big", "512 KiB of text.", func(ctx context.Context, _ struct{}) (string, error) { return big, nil })
	s := rpc.NewServer(rpc.Config{Registry: reg})
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	c := rpc.NewClient(rpc.ClientConfig{Addr: srv.Addr().String() + ":4343", Dial: cafe.Dial, Stream: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for range 8 {
				var got string
				if err := c.Call(ctx, "big", nil, &got); err != nil || len(got) != len(big) {
					errs <- fmt.Errorf("%d bytes, %v", len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
