package realtailnet_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"tailscale.com/envknob"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/internal/tsdebug"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// joinHeadscale joins an in-process mesh node to hs with key.
func joinHeadscale(t *testing.T, hs *realtailnet.Headscale, name, key string) *mesh.Node {
	t.Helper()
	// Headscale's embedded DERP speaks plain HTTP (see ClientEnv). The knob
	// is process-wide: put it back for the devnet tests, whose DERP is TLS.
	envknob.Setenv("TS_DEBUG_USE_DERP_HTTP", "true")
	t.Cleanup(func() { envknob.Setenv("TS_DEBUG_USE_DERP_HTTP", "") })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := mesh.Join(ctx, mesh.Config{
		Hostname:   name,
		StateDir:   filepath.Join(t.TempDir(), name),
		ControlURL: hs.URL,
		AuthKey:    key,
		Progress:   io.Discard,
	})
	if err != nil {
		t.Fatalf("join %s to headscale: %v\nheadscale's log:\n%s", name, err, hs.Log())
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestMeshNodesJoinHeadscaleAndWhoIsNamesTheUser(t *testing.T) {
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	key := hs.AuthKey(t, alice)

	home := joinHeadscale(t, hs, "home", key)
	cafe := joinHeadscale(t, hs, "cafe", key)
	meshtest.WaitPeers(t, cafe, "home")
	if want := "home.hs.meshrpc.test"; home.Self().DNSName != want {
		t.Errorf("home's MagicDNS name = %q; want %q", home.Self().DNSName, want)
	}
	if prefix := netip.MustParsePrefix("100.64.0.0/10"); !prefix.Contains(home.Addr()) {
		t.Errorf("home's address %s is not in headscale's prefix %s", home.Addr(), prefix)
	}
	checkDERPMapIsLoopback(t, cafe)

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
		line, _ := bufio.NewReader(c).ReadString('\n')
		id, err := home.WhoIs(context.Background(), c.RemoteAddr().String())
		if err != nil {
			fmt.Fprintf(c, "whois failed: %v\n", err)
			return
		}
		fmt.Fprintf(c, "%s from %s (%s)\n", line[:len(line)-1], id.Login, id.Node)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cafe.Dial(ctx, "tcp", "home:4343")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "hello\n")
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read home's answer: %v", err)
	}
	// Headscale's login for a user without an e-mail address is its name.
	if want := "hello from alice (cafe)\n"; got != want {
		t.Fatalf("home answered %q; want %q", got, want)
	}
}

func TestATaggedKeyMakesATaggedNodeOnHeadscale(t *testing.T) {
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	home := joinHeadscale(t, hs, "home", hs.AuthKey(t, alice))
	robot := joinHeadscale(t, hs, "robot", hs.AuthKey(t, realtailnet.User{}, "tag:server"))
	meshtest.WaitPeers(t, home, "robot")

	id, err := home.WhoIs(context.Background(), robot.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Tagged nodes belong to their tags, not to a person; Headscale, like
	// Tailscale, reports them as the user "tagged-devices".
	if len(id.Tags) != 1 || id.Tags[0] != "tag:server" || id.Login != "tagged-devices" {
		t.Fatalf("home sees robot as %+v; want tags [tag:server], login tagged-devices", id)
	}
}

// checkDERPMapIsLoopback fails the test unless every DERP node n was given
// is on 127.0.0.1: nothing may leave the machine.
func checkDERPMapIsLoopback(t *testing.T, n *mesh.Node) {
	t.Helper()
	dm, err := tsdebug.LocalClient(n).CurrentDERPMap(context.Background())
	if err != nil {
		t.Fatalf("DERP map: %v", err)
	}
	if len(dm.Regions) == 0 {
		t.Fatal("headscale sent an empty DERP map")
	}
	for id, r := range dm.Regions {
		for _, d := range r.Nodes {
			if d.HostName != "127.0.0.1" || (d.IPv4 != "" && d.IPv4 != "127.0.0.1") || (d.IPv6 != "" && d.IPv6 != "none") {
				t.Errorf("DERP region %d node %s is at host %q ipv4 %q ipv6 %q; want 127.0.0.1 only", id, d.Name, d.HostName, d.IPv4, d.IPv6)
			}
		}
	}
}
