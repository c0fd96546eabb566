package devnet_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

// A node that stops is shown offline to its peers, with when it was last
// seen; a dial to it, by name or by address, fails at once saying so; and
// when it comes back it is online again.
func TestAStoppedNodeIsShownOfflineUntilItReturns(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := filepath.Join(t.TempDir(), "home")
	cafe := meshtest.Join(t, dn, mesh.Config{Hostname: "cafe"})
	home := meshtest.Join(t, dn, mesh.Config{Hostname: "home", StateDir: dir})
	addr := home.Addr()
	waitHome(t, cafe, "online", func(p mesh.Peer) bool { return p.Online && !p.Offline() })

	stopped := time.Now()
	home.Close()
	p := waitHome(t, cafe, "offline", mesh.Peer.Offline)
	if p.LastSeen.Before(stopped.Add(-time.Second)) || p.LastSeen.After(time.Now()) {
		t.Errorf("home last seen %v; it stopped at %v", p.LastSeen, stopped)
	}

	ctx := context.Background() // no deadline: a dial that waited would hang the test
	for _, target := range []string{"home", addr.String()} {
		c, err := cafe.Dial(ctx, "tcp", net.JoinHostPort(target, "80"))
		var oe *mesh.OfflineError
		if !errors.Is(err, mesh.ErrOffline) || !errors.As(err, &oe) || oe.Addr != addr || !strings.Contains(err.Error(), "home ("+addr.String()+") is offline (last seen ") {
			if c != nil {
				c.Close()
			}
			t.Fatalf("dial %s, offline: %v; want a *mesh.OfflineError", target, err)
		}
		t.Logf("dial %s: %v", target, err)
	}

	home = meshtest.Join(t, dn, mesh.Config{Hostname: "home", StateDir: dir})
	if home.Addr() != addr {
		t.Fatalf("home came back as %v, not %v", home.Addr(), addr)
	}
	waitHome(t, cafe, "online again", func(p mesh.Peer) bool { return p.Online && !p.Offline() })
}

// waitHome waits until n lists one peer named home, in the state ok
// accepts, and returns it.
func waitHome(t *testing.T, n *mesh.Node, state string, ok func(mesh.Peer) bool) mesh.Peer {
	t.Helper()
	var home mesh.Peer
	poll.Until(t, 30*time.Second, func() error {
		peers, err := n.Peers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			if p.Name == "home" && ok(p) {
				home = p
				return nil
			}
		}
		return fmt.Errorf("%s does not list home %s: %+v", n.Self().Name, state, peers)
	})
	return home
}
