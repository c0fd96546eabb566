package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/rpc"
)

// A call to a node that has stopped fails at once, from Go, with a typed
// error that says when it was last seen: from a client that called it
// before (its own tailnet node) and from one that never did (through a
// serving node's socket), by name and by address. It is still the
// transport failure it was (-32005 from rpc.CodeOf), for code that retries.
func TestCallToAStoppedNodeSaysItIsOffline(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	home, err := node.New(context.Background(), node.Config{
		Hostname: "home", InMemory: true, ControlURL: dn.ControlURL(),
		StateDir: filepath.Join(t.TempDir(), "home"), Progress: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- home.Serve(ctx) }()
	defer stop()
	addr := home.Mesh().Addr()

	cafe := dialAs(t, dn, "cafe")
	if err := cafe.Call(context.Background(), "home", "sys.ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	nasDir := filepath.Join(t.TempDir(), "nas")
	startNode(t, dn, node.Config{Hostname: "nas", InMemory: true, StateDir: nasDir}) // returns once its socket answers
	viaNas, err := node.Dial(context.Background(), node.ClientConfig{StateDir: nasDir, ControlURL: dn.ControlURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer viaNas.Close()
	if viaNas.Via() != node.ViaSocket {
		t.Fatalf("a client with nas's state dir goes %s, not through its socket", viaNas.Via())
	}

	stop()
	if err := <-served; err != nil {
		t.Fatalf("home's Serve: %v", err)
	}
	for _, c := range []*node.Client{cafe, viaNas} {
		poll.Until(t, 30*time.Second, func() error {
			_, peers, err := c.Peers(context.Background())
			if err != nil {
				return err
			}
			for _, p := range peers {
				if p.Name == "home" && p.Offline() {
					return nil
				}
			}
			return fmt.Errorf("home is not listed offline: %+v", peers)
		})
	}

	for _, tc := range []struct {
		via  string
		c    *node.Client
		peer string
	}{
		{"its own node, having called home before", cafe, "home"},
		{"its own node", cafe, addr.String()},
		{"nas's socket", viaNas, "home"},
		{"nas's socket", viaNas, addr.String()},
	} {
		// A minute, not forever: without the tailnet's answer, this
		// would wait for it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := tc.c.Call(ctx, tc.peer, "sys.ping", nil, nil)
		cancel()
		var oe *mesh.OfflineError
		var te *rpc.TransportError
		if !errors.Is(err, mesh.ErrOffline) || !errors.As(err, &oe) || oe.Addr != addr || oe.LastSeen.IsZero() ||
			!errors.As(err, &te) || rpc.CodeOf(err) != rpc.CodeUnavailable {
			t.Errorf("call %s through %s: %v; want a *mesh.OfflineError, and the transport failure it was", tc.peer, tc.via, err)
			continue
		}
		t.Logf("through %s: %v", tc.via, err)
	}
}
