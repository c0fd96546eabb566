package mesh_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

func TestTwoNodesTalkOverWireGuard(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home", "cafe")
	home, cafe := nodes[0], nodes[1]

	ln, err := home.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, addr := range []string{"home:4343", "home." + devnet.MagicDNSDomain + ":4343"} {
		t.Run(addr, func(t *testing.T) {
			c, err := cafe.Dial(ctx, "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if addr != "home:4343" {
				return // the echo goroutine serves one connection
			}
			if _, err := io.WriteString(c, "ping\n"); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || line != "ping\n" {
				t.Fatalf("echo over the tailnet = %q, %v; want %q", line, err, "ping\n")
			}
		})
	}
}

func TestPeersListsTheOtherNode(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home", "cafe")
	peers, err := nodes[1].Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 {
		t.Fatalf("cafe sees %d peers, want 1: %+v", len(peers), peers)
	}
	p := peers[0]
	if p.Name != "home" || p.DNSName != "home."+devnet.MagicDNSDomain {
		t.Errorf("peer name = %q (%q), want home (home.%s)", p.Name, p.DNSName, devnet.MagicDNSDomain)
	}
	if len(p.Addrs) == 0 || p.Addrs[0] != nodes[0].Addr() || !p.Addrs[0].Is4() {
		t.Errorf("peer addrs = %v, want home's address %v first", p.Addrs, nodes[0].Addr())
	}
	if !p.Online || p.OS == "" || p.User == "" {
		t.Errorf("peer = %+v, want online with an OS and a user", p)
	}
}

func TestWhoIsNamesTheCallersNodeAndUser(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home", "cafe")
	home, cafe := nodes[0], nodes[1]
	ln, err := home.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cafe.Dial(ctx, "tcp", "home:4343")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-accepted
	defer sc.Close()

	id, err := home.WhoIs(ctx, sc.RemoteAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if id.Node != "cafe" || id.NodeFQDN != "cafe."+devnet.MagicDNSDomain {
		t.Errorf("WhoIs node = %q (%q), want cafe", id.Node, id.NodeFQDN)
	}
	if id.Login == "" || id.Login != cafe.Self().User {
		t.Errorf("WhoIs login = %q, want cafe's user %q", id.Login, cafe.Self().User)
	}
	if id.Addr != cafe.Addr().String() {
		t.Errorf("WhoIs addr = %q, want %v", id.Addr, cafe.Addr())
	}
}

func TestGrantReachesWhoIs(t *testing.T) {
	dn, nodes := meshtest.Nodes(t, "home", "cafe")
	home, cafe := nodes[0], nodes[1]
	const capName = "example.com/cap/test"
	if err := dn.Grant(capName, map[string]any{"methods": []string{"kv.*"}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	poll.Until(t, 15*time.Second, func() error {
		id, err := home.WhoIs(ctx, cafe.Addr().String()+":1")
		if err != nil {
			t.Fatal(err)
		}
		if vals := id.Caps[capName]; len(vals) != 1 || !strings.Contains(string(vals[0]), `"kv.*"`) {
			return fmt.Errorf("grant not visible to WhoIs: caps = %v", id.Caps)
		}
		return nil
	})
}

func TestRestartOnSameStateKeepsIdentityAndAddress(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	cfg := meshtest.Config(t, dn, mesh.Config{Hostname: "home"})
	ctx := context.Background()
	first, err := mesh.Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := first.Self()
	first.Close()

	second, err := mesh.Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if a, b := first.WireGuardPort(), second.WireGuardPort(); a == 0 || a != b {
		t.Errorf("WireGuard port %d after restart, %d before; want the same, so peers holding the old endpoint reach it at once", b, a)
	}
	after := second.Self()
	if after.DNSName != before.DNSName || after.Addrs[0] != before.Addrs[0] {
		t.Fatalf("after restart the node is %s %v, before %s %v", after.DNSName, after.Addrs, before.DNSName, before.Addrs)
	}
}

func TestListenIsOnTheTailnetOnly(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home")
	ln, err := nodes[0].Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4343", time.Second); err == nil {
		c.Close()
		t.Fatal("a tailnet listener on :4343 is reachable on the host's 127.0.0.1:4343")
	}
}

func TestLogsGoToTheStateDir(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home")
	path := filepath.Join(nodes[0].StateDir(), mesh.LogFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: size %d mode %v; want non-empty and 0600", path, fi.Size(), fi.Mode().Perm())
	}
	di, err := os.Stat(nodes[0].StateDir())
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", di.Mode().Perm())
	}
}
