package mesh_test

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

// TestClosedNodeReleasesEverything joins and closes a node twice: the first
// round starts tsnet's process-wide goroutines, the second must end where it
// began, in goroutines and in open files (sockets included).
func TestClosedNodeReleasesEverything(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	round := func(name string) {
		n, err := mesh.Join(context.Background(), meshtest.Config(t, dn, mesh.Config{Hostname: name}))
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
	}
	round("warmup")
	goroutines, fds := settle(t, 0, 0)

	round("leaky")
	g, f := settle(t, goroutines, fds)
	if g > goroutines || f > fds {
		buf := make([]byte, 1<<20)
		t.Fatalf("after Close: %d goroutines (was %d), %d open files (was %d)\n%s",
			g, goroutines, f, fds, buf[:runtime.Stack(buf, true)])
	}
}

// settle waits up to 10 s for goroutines and open files to fall to the given
// marks (or, with zero marks, to stop falling) and returns the last counts.
func settle(t *testing.T, wantG, wantF int) (int, int) {
	t.Helper()
	g, f := -1, -1
	steady := 0
	for i := 0; i < 100; i++ {
		ng, nf := runtime.NumGoroutine(), openFiles(t)
		if wantG > 0 && ng <= wantG && nf <= wantF {
			return ng, nf
		}
		if ng == g && nf == f {
			steady++
		} else {
			steady = 0
		}
		g, f = ng, nf
		if wantG == 0 && steady == 5 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return g, f
}

func openFiles(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(entries)
}
