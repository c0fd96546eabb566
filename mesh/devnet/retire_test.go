package devnet_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

// A node that comes back under its name from a new state directory is the
// one the name means: the old node is renamed, so the name resolves to one
// node, the live one, and a dial by name reaches it.
func TestRejoinUnderTheSameNameRetiresTheOldNode(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := t.TempDir()
	cafe := meshtest.Join(t, dn, mesh.Config{Hostname: "cafe"})
	first := meshtest.Join(t, dn, mesh.Config{Hostname: "home", StateDir: filepath.Join(dir, "first")})
	meshtest.WaitPeers(t, cafe, "home")
	first.Close()
	second := meshtest.Join(t, dn, mesh.Config{Hostname: "home", StateDir: filepath.Join(dir, "second")})
	if second.Addr() == first.Addr() {
		t.Fatalf("the second home has the first one's address %v: not a new node", second.Addr())
	}

	ln, err := second.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, second.Addr().String())
			c.Close()
		}
	}()

	poll.Until(t, 30*time.Second, func() error {
		peers, err := cafe.Peers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var homes []mesh.Peer
		for _, p := range peers {
			if p.Name == "home" {
				homes = append(homes, p)
			}
		}
		if len(homes) != 1 || homes[0].Addrs[0] != second.Addr() {
			return fmt.Errorf("cafe's peers named home: %+v; want only %v", homes, second.Addr())
		}
		if _, err := mesh.FindPeer(cafe.Self(), peers, "home"); err != nil {
			return err
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cafe.Dial(ctx, "tcp", "home:80")
	if err != nil {
		t.Fatalf("dial home by name: %v", err)
	}
	defer c.Close()
	got, _ := io.ReadAll(c)
	if string(got) != second.Addr().String() {
		t.Fatalf("dial home reached %q, want the live node %v", got, second.Addr())
	}
	peers, _ := cafe.Peers(context.Background())
	for _, p := range peers {
		if p.Addrs[0] == first.Addr() {
			t.Logf("the old node is listed as %s", p.DNSName)
		}
	}
}
