// Package meshtest starts local tailnets and real tsnet nodes for tests in
// one line each, and closes them with t.Cleanup. It is for tests only.
package meshtest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
)

var verbose = flag.Bool("verbose-tailnet", false, "log the devnet's and tsnet's chatter to the test log")

// Net starts a devnet for the test and closes it when the test ends. Then,
// when everything the test started is closed (its cleanups run first), it
// checks that goroutines and open files came back to what they were before
// the devnet started: every test that starts nodes checks for leaks.
func Net(t testing.TB, cfg devnet.Config) *devnet.Net {
	t.Helper()
	if *verbose && cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	t.Cleanup(baseline(t))
	dn, err := devnet.Start(cfg)
	if err != nil {
		t.Fatalf("start devnet: %v", err)
	}
	t.Cleanup(func() { dn.Close() })
	return dn
}

// Join joins a node to dn and closes it when the test ends. Empty fields of
// cfg get test defaults: the devnet's control URL, a state directory in
// t.TempDir(), and quiet logs.
func Join(t testing.TB, dn *devnet.Net, cfg mesh.Config) *mesh.Node {
	t.Helper()
	if cfg.Hostname == "" {
		t.Fatal("meshtest.Join: Hostname is required")
	}
	cfg = Config(t, dn, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := mesh.Join(ctx, cfg)
	if err != nil {
		t.Fatalf("join %s to the devnet: %v", cfg.Hostname, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// Config fills the empty fields of cfg with Join's test defaults.
func Config(t testing.TB, dn *devnet.Net, cfg mesh.Config) mesh.Config {
	t.Helper()
	if cfg.ControlURL == "" {
		cfg.ControlURL = dn.ControlURL()
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(t.TempDir(), cfg.Hostname)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Logf == nil && *verbose {
		cfg.Logf = t.Logf
	}
	return cfg
}

// Nodes starts a devnet (one user for all nodes) and joins nodes with the
// given names to it, each seeing all the others as peers before it returns.
func Nodes(t testing.TB, names ...string) (*devnet.Net, []*mesh.Node) {
	t.Helper()
	dn := Net(t, devnet.Config{})
	nodes := make([]*mesh.Node, len(names))
	for i, name := range names {
		nodes[i] = Join(t, dn, mesh.Config{Hostname: name})
	}
	for i, n := range nodes {
		others := slices.Delete(slices.Clone(names), i, i+1)
		WaitPeers(t, n, others...)
	}
	return dn, nodes
}

// WaitPeers waits until n lists every named peer, failing the test after
// 30 seconds.
func WaitPeers(t testing.TB, n *mesh.Node, names ...string) {
	t.Helper()
	poll.Until(t, 30*time.Second, func() error {
		peers, err := n.Peers(context.Background())
		if err != nil {
			t.Fatalf("peers of %s: %v", n.Self().Name, err)
		}
		missing := slices.DeleteFunc(slices.Clone(names), func(name string) bool {
			return slices.ContainsFunc(peers, func(p mesh.Peer) bool { return p.Name == name })
		})
		if len(missing) > 0 {
			return fmt.Errorf("%s does not see peers %v", n.Self().Name, missing)
		}
		return nil
	})
}
