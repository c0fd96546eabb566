package node_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
)

// TestStoppedNodeReleasesEverything serves and stops a node twice, with a
// client calling it: the second round must end where it began, in goroutines
// and open files (sockets, the store, the logs).
func TestStoppedNodeReleasesEverything(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := t.TempDir()
	round := func() {
		ctx, cancel := context.WithCancel(context.Background())
		n, err := node.New(ctx, node.Config{Hostname: "home", StateDir: filepath.Join(dir, "home"), ControlURL: dn.ControlURL(), Progress: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.Serve(ctx) }()
		c, err := node.Dial(context.Background(), node.ClientConfig{Hostname: "cafe", StateDir: filepath.Join(dir, "cafe"), ControlURL: dn.ControlURL(), Progress: io.Discard, NoSocket: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Call(context.Background(), "home", "kv.inc", []any{"n"}, nil); err != nil {
			t.Fatal(err)
		}
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	meshtest.CheckReleased(t, round)
}
