package main

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

func TestPeerEvents(t *testing.T) {
	a := mesh.Peer{Name: "a", DNSName: "a.x", Online: true, Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.1")}}
	b := mesh.Peer{Name: "b", DNSName: "b.x", Online: true}
	now := time.Now()
	kinds := func(events []peerEvent) (out []string) {
		for _, e := range events {
			out = append(out, e.Event+" "+e.Peer.Name)
		}
		return out
	}
	prev := map[string]mesh.Peer{"a.x": a, "b.x": b}
	aOff, bDirect := a, b
	aOff.Online = false
	bDirect.CurAddr = "127.0.0.1:41641"
	c := mesh.Peer{Name: "c", DNSName: "c.x"}
	for _, tc := range []struct {
		prev map[string]mesh.Peer
		cur  []mesh.Peer
		want []string
	}{
		{nil, []mesh.Peer{a, b}, []string{"present a", "present b"}},
		{prev, []mesh.Peer{a, b}, nil},
		{prev, []mesh.Peer{aOff, bDirect, c}, []string{"offline a", "path b", "joined c"}},
		{prev, []mesh.Peer{b}, []string{"left a"}},
	} {
		if got := kinds(peerEvents(tc.prev, tc.cur, now)); !slices.Equal(got, tc.want) {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// peers --watch reports a node that joins, from the tailnet's event bus:
// as a node of its own, and through a serving node's socket.
func TestPeersWatchReportsAJoin(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	home := filepath.Join(t.TempDir(), "home")
	serveHome(t, dn.ControlURL(), home)
	meshtest.Join(t, dn, mesh.Config{Hostname: "phone"}) // a peer both ways see
	t.Run("own node", func(t *testing.T) {
		watchForJoin(t, dn, []string{"--hostname", "cafe", "--state-dir", filepath.Join(t.TempDir(), "cafe")}, "phone", "nas")
	})
	t.Run("socket", func(t *testing.T) {
		watchForJoin(t, dn, []string{"--state-dir", home}, "phone", "nas2")
	})
}

func watchForJoin(t *testing.T, dn *devnet.Net, global []string, present, joins string) {
	cmd := exec.Command(binary, append(global, "peers", "--watch", "--json")...)
	cmd.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+dn.ControlURL())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan peerEvent)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e peerEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
		close(events)
	}()
	// await reads events until one of kind about name.
	await := func(kind, name string) {
		t.Helper()
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatalf("the watch ended before a %q event for %q", kind, name)
				}
				if e.Event == kind && e.Peer.Name == name {
					return
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no %q event for %q in 30 s", kind, name)
			}
		}
	}
	await("present", present) // the first view: the watch has begun
	meshtest.Join(t, dn, mesh.Config{Hostname: joins})
	await("joined", joins)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("peers --watch after SIGINT: %v", err)
	}
}
