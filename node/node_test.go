package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/openrpc"
)

// startNode starts a serving node on dn and stops it when the test ends.
func startNode(t testing.TB, dn *devnet.Net, cfg node.Config) *node.Node {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(t.TempDir(), cfg.Hostname)
	}
	cfg.ControlURL = dn.ControlURL()
	cfg.Progress = io.Discard
	n, err := node.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	// Serve makes the local socket on its way up: programs and the CLI
	// find it there from now on.
	poll.Until(t, 10*time.Second, func() error {
		conn, err := net.Dial("unix", filepath.Join(cfg.StateDir, node.SocketName))
		if err == nil {
			conn.Close()
		}
		return err
	})
	return n
}

// dialAs returns a client that is a tailnet node of its own.
func dialAs(t testing.TB, dn *devnet.Net, hostname string) *node.Client {
	t.Helper()
	c, err := node.Dial(context.Background(), node.ClientConfig{
		Hostname: hostname, StateDir: filepath.Join(t.TempDir(), hostname),
		ControlURL: dn.ControlURL(), Progress: io.Discard, NoSocket: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSeedWorkloadEndsExact(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("inMemory=%v", inMemory), func(t *testing.T) {
			dn := meshtest.Net(t, devnet.Config{})
			startNode(t, dn, node.Config{Hostname: "home", InMemory: inMemory})
			cafe := dialAs(t, dn, "cafe")
			ctx := context.Background()
			const callers, rounds = 5, 200
			start := time.Now()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for range rounds {
						if err := cafe.Call(ctx, "home", "kv.get", []any{"hikakin"}, nil); err != nil {
							t.Error(err)
							return
						}
						if err := cafe.Call(ctx, "home", "kv.inc", []any{"hikakin"}, nil); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			var n int64
			if err := cafe.Call(ctx, "home", "kv.get", []any{"hikakin"}, &n); err != nil || n != callers*rounds {
				t.Fatalf("count = %d, %v; want %d", n, err, callers*rounds)
			}
			t.Logf("%d calls in %v", 2*callers*rounds, time.Since(start))
		})
	}
}

func TestBuiltins(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	cafe := dialAs(t, dn, "cafe")
	ctx := context.Background()
	var pong string
	if err := cafe.Call(ctx, "home", "sys.ping", nil, &pong); err != nil || pong != "pong" {
		t.Fatalf("sys.ping: %q %v", pong, err)
	}
	var u api.Uname
	if err := cafe.Call(ctx, "home", "sys.uname", nil, &u); err != nil || u.Sysname == "" || u.Machine == "" {
		t.Fatalf("sys.uname: %+v %v", u, err)
	}
	var info api.Info
	if err := cafe.Call(ctx, "home", "sys.info", nil, &info); err != nil || info.Node != "home" || info.Methods < 10 {
		t.Fatalf("sys.info: %+v %v", info, err)
	}
	var who rpc.Caller
	if err := cafe.Call(ctx, "home", "sys.whoami", nil, &who); err != nil || who.Node != "cafe" || who.Login == "" {
		t.Fatalf("sys.whoami: %+v %v", who, err)
	}
	var doc openrpc.Document
	if err := cafe.Call(ctx, "home", "rpc.discover", nil, &doc); err != nil || len(doc.Methods) < 12 {
		t.Fatalf("rpc.discover: %d methods, %v", len(doc.Methods), err)
	}
}

func TestOtherUsersAreDeniedByDefault(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	stranger := dialAs(t, dn, "stranger")
	err := stranger.Call(context.Background(), "home", "sys.ping", nil, nil)
	if rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Fatalf("another user's call: %v; want permission denied", err)
	}
	t.Log(err)
}

func TestAllowRuleLetsATaggedNodeIn(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true, Allow: []string{"self", "tag:laptop=sys.*"}})
	dial := func(name string, tags ...string) *node.Client {
		c, err := node.Dial(context.Background(), node.ClientConfig{
			Hostname: name, StateDir: filepath.Join(t.TempDir(), name), Tags: tags,
			ControlURL: dn.ControlURL(), Progress: io.Discard, NoSocket: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	tagged, untagged := dial("laptop", "tag:laptop"), dial("desktop")
	ctx := context.Background()
	if err := tagged.Call(ctx, "home", "sys.ping", nil, nil); err != nil {
		t.Fatalf("tag:laptop calling sys.ping, allowed by its rule: %v", err)
	}
	if err := tagged.Call(ctx, "home", "kv.put", []any{"k", 1}, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Fatalf("tag:laptop calling kv.put, outside its rule: %v; want denied", err)
	}
	if err := untagged.Call(ctx, "home", "sys.ping", nil, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Fatalf("an untagged node of another user: %v; want denied", err)
	}
}

// From Go, a name no node has is a typed error, at once, not -32005.
func TestCallToAnUnknownNodeIsATypedError(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	c := dialAs(t, dn, "cafe")
	ctx := context.Background()
	if err := c.Call(ctx, "home", "sys.ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	err := c.Call(ctx, "hmoe", "sys.ping", nil, nil)
	var nn *mesh.NoNodeError
	if !errors.Is(err, mesh.ErrNoSuchNode) || !errors.As(err, &nn) || len(nn.DidYouMean) != 1 || nn.DidYouMean[0] != "home" {
		t.Fatalf("calling hmoe: %v", err)
	}
}

// A Peer calls by position and decodes into the type asked for.
func TestPeerCallsByPosition(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	home := dialAs(t, dn, "cafe").Peer("home")
	ctx := context.Background()
	if n, err := node.CallAs[int](ctx, home, "kv.inc", "visits", 41); err != nil || n != 41 {
		t.Fatalf("kv.inc visits 41 = %d, %v", n, err)
	}
	if v, err := home.Call(ctx, "kv.get", "visits"); err != nil || v != float64(41) {
		t.Fatalf("kv.get visits = %v (%T), %v", v, v, err)
	}
	if v := home.MustCall("sys.ping"); v != "pong" {
		t.Fatalf("sys.ping = %v", v)
	}
	_, err := home.Call(ctx, "kv.inc")
	if rpc.CodeOf(err) != rpc.CodeInvalidParams {
		t.Fatalf("kv.inc without a key: %v", err)
	}
}
