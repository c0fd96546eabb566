package mesh_test

import (
	"context"
	"testing"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

// TestClosedNodeReleasesEverything joins, listens and closes a node: after
// Close its goroutines, sockets and files are gone, and Close is idempotent.
func TestClosedNodeReleasesEverything(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	meshtest.CheckReleased(t, func() {
		n, err := mesh.Join(context.Background(), meshtest.Config(t, dn, mesh.Config{Hostname: "home"}))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := n.Listen("tcp", ":4343")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatalf("second Close: %v (Close must be idempotent)", err)
		}
	})
}
