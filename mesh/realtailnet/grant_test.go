package realtailnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// rpcCap is meshrpc's app capability (DESIGN.md, "Tailnet grants").
const rpcCap = "github.com/meshrpc/meshrpc/cap/rpc"

// grantPolicy lets every node reach every other (as Headscale does with no
// policy at all) and grants bob's devices the sys.* methods on alice's.
// Headscale names a user without an e-mail address "NAME@".
const grantPolicy = `{
	"grants": [
		{"src": ["*"], "dst": ["*"], "ip": ["*"]},
		{
			"src": ["bob@"],
			"dst": ["alice@"],
			"app": {"github.com/meshrpc/meshrpc/cap/rpc": [{"methods": ["sys.*"]}]}
		}
	]
}`

func TestHeadscaleGrantReachesWhoIsWithoutARestart(t *testing.T) {
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	bob := hs.CreateUser(t, "bob")
	home := joinHeadscale(t, hs, "home", hs.AuthKey(t, alice))
	laptop := joinHeadscale(t, hs, "laptop", hs.AuthKey(t, bob))
	meshtest.WaitPeers(t, laptop, "home")

	ln, err := home.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := laptop.Dial(ctx, "tcp", "home:4343")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	before := whoIs(t, home, sc)
	if before.Login != "bob" || len(before.Caps[rpcCap]) != 0 {
		t.Fatalf("before any policy, home sees %+v; want bob with no %s", before, rpcCap)
	}

	hs.SetPolicy(t, grantPolicy)
	// The grant arrives with a map update; the open connection's caller
	// gets it, no restart and no new connection needed.
	var after mesh.Identity
	poll.Until(t, 30*time.Second, func() error {
		if after = whoIs(t, home, sc); len(after.Caps[rpcCap]) == 0 {
			return fmt.Errorf("after the policy was set, home sees bob's caps as %v; want a %s value\nheadscale's log:\n%s", after.Caps, rpcCap, hs.Log())
		}
		return nil
	})
	got := after.Caps[rpcCap]
	if len(got) != 1 {
		t.Fatalf("home sees bob's caps as %v; want one %s value\nheadscale's log:\n%s", after.Caps, rpcCap, hs.Log())
	}
	var v struct{ Methods []string }
	if err := json.Unmarshal(got[0], &v); err != nil || len(v.Methods) != 1 || v.Methods[0] != "sys.*" {
		t.Fatalf("grant value = %s (%v); want {\"methods\":[\"sys.*\"]}", got[0], err)
	}

	// The grant is from bob to alice only: alice's home has no such cap on
	// bob's laptop.
	if id := whoIsFrom(t, laptop, home); len(id.Caps[rpcCap]) != 0 {
		t.Errorf("laptop sees home (alice) with caps %v; the grant is one way", id.Caps)
	}
}

func whoIs(t *testing.T, n *mesh.Node, c net.Conn) mesh.Identity {
	t.Helper()
	id, err := n.WhoIs(context.Background(), c.RemoteAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// whoIsFrom is what n's WhoIs says about peer.
func whoIsFrom(t *testing.T, n, peer *mesh.Node) mesh.Identity {
	t.Helper()
	id, err := n.WhoIs(context.Background(), peer.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
