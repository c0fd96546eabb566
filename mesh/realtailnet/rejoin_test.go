package realtailnet_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// TestARejoiningNodeDialsAPeerByNameAtOnce is what a one-shot `meshrpc call
// home ...` does on its second run: join again from its state directory and
// dial a peer by name at once.
//
// Against Headscale, Join (state Running) returns before the first network
// map that lists the peers: they arrive 0.3 s later with this harness's
// batching and about 1.5 s later with Headscale's defaults. mesh resolves
// names from the tailnet map and waits briefly for it, never from the host's
// DNS (which, on a real network, could find another machine called "home").
// The devnet sends complete maps, so only a real control server shows this.
func TestARejoiningNodeDialsAPeerByNameAtOnce(t *testing.T) {
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	key := hs.AuthKey(t, alice)
	home := joinHeadscale(t, hs, "home", key)
	acceptAndClose(t, home)
	laptop := joinHeadscale(t, hs, "laptop", key)
	meshtest.WaitPeers(t, laptop, "home")
	laptop.Close()

	for i := range 3 {
		n, err := mesh.Join(context.Background(), mesh.Config{
			Hostname:   "laptop",
			StateDir:   laptop.StateDir(),
			ControlURL: hs.URL,
			Progress:   io.Discard,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := n.Dial(ctx, "tcp", "home:4343")
		cancel()
		if err != nil {
			n.Close()
			t.Fatalf("rejoin %d: dial home right after Join: %v", i+1, err)
		}
		c.Close()
		n.Close()
	}
}

// acceptAndClose accepts connections on n's port 4343 and closes them.
func acceptAndClose(t *testing.T, n *mesh.Node) {
	ln, err := n.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
