package mesh_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"tailscale.com/tailcfg"
)

// Empty fields come from the CLI's environment variables; set ones win.
func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv(mesh.EnvHostname, "envhost")
	t.Setenv(mesh.EnvStateDir, "/env/state")
	t.Setenv(mesh.EnvControlURL, "http://127.0.0.1:9911")
	got := mesh.Config{Hostname: "given"}.FromEnvironment()
	if got.Hostname != "given" || got.StateDir != "/env/state" || got.ControlURL != "http://127.0.0.1:9911" {
		t.Fatalf("FromEnvironment = %+v", got)
	}
}

func TestFindPeer(t *testing.T) {
	addr := func(s string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(s)} }
	self := mesh.Peer{Name: "cafe", DNSName: "cafe.ts.net", Addrs: addr("100.64.0.9"), Online: true}
	peers := []mesh.Peer{
		{Name: "home", DNSName: "home.ts.net", Addrs: addr("100.64.0.1"), Online: true},
		{Name: "nas", DNSName: "nas.ts.net", Addrs: addr("100.64.0.2"), Online: false},
		{Name: "phone", DNSName: "phone.ts.net", Addrs: addr("100.64.0.3"), Online: false},
		{Name: "phone", DNSName: "phone-1.ts.net", Addrs: addr("100.64.0.4"), Online: true},
	}
	for _, tc := range []struct{ name, addr, err string }{
		{"home", "100.64.0.1", ""},
		{"HOME.ts.net.", "100.64.0.1", ""},
		{"nas", "100.64.0.2", ""},   // offline, but the only one of its name
		{"phone", "100.64.0.4", ""}, // the online one of two
		{"cafe", "100.64.0.9", ""},
		{"hmoe", "", `no node named "hmoe" on the tailnet; did you mean home?`},
		{"zzz", "", `no node named "zzz" on the tailnet (meshrpc peers lists them)`},
	} {
		p, err := mesh.FindPeer(self, peers, tc.name)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err || !errors.Is(err, mesh.ErrNoSuchNode)):
			t.Errorf("FindPeer(%q) = %v, want error %q", tc.name, err, tc.err)
		case tc.err == "" && (err != nil || p.Addrs[0].String() != tc.addr):
			t.Errorf("FindPeer(%q) = %v %v, want %s", tc.name, p.Addrs, err, tc.addr)
		}
	}
	twins := append(peers, mesh.Peer{Name: "home", DNSName: "home-1.ts.net", Addrs: addr("100.64.0.5"), Online: true})
	if _, err := mesh.FindPeer(self, twins, "home"); !errors.Is(err, mesh.ErrAmbiguousName) ||
		!strings.Contains(err.Error(), "home.ts.net (100.64.0.1) and home-1.ts.net (100.64.0.5)") {
		t.Errorf("two online nodes named home: %v", err)
	}
}

// A peer is offline only when the control server says so with a last-seen
// time: one that does not track it leaves every peer worth a dial.
func TestCheckOnline(t *testing.T) {
	addr := func(s string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(s)} }
	seen := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	self := mesh.Peer{Name: "cafe", Addrs: addr("100.64.0.9")}
	for _, tc := range []struct {
		p       mesh.Peer
		offline bool
	}{
		{mesh.Peer{Name: "home", Addrs: addr("100.64.0.1"), Online: true}, false},
		{mesh.Peer{Name: "home", Addrs: addr("100.64.0.1")}, false}, // not tracked
		{mesh.Peer{Name: "home", Addrs: addr("100.64.0.1"), LastSeen: seen}, true},
		{mesh.Peer{Name: "cafe", Addrs: addr("100.64.0.9"), LastSeen: seen}, false}, // self
	} {
		err := mesh.CheckOnline(self, tc.p)
		var oe *mesh.OfflineError
		if got := errors.Is(err, mesh.ErrOffline); got != tc.offline || (got && (!errors.As(err, &oe) || oe.LastSeen != seen ||
			!strings.HasPrefix(err.Error(), "home (100.64.0.1) is offline (last seen 2026-12-03 09:00:00 UTC, "))) {
			t.Errorf("CheckOnline(%+v) = %v; want offline %v", tc.p, err, tc.offline)
		}
	}
}

// Tailscale's own capabilities are not grants for applications.
func TestIdentityLeavesOutTailscalesOwnCapabilities(t *testing.T) {
	caps := mesh.AppCaps(tailcfg.PeerCapMap{
		"https://tailscale.com/cap/ingress":  nil,
		"github.com/meshrpc/meshrpc/cap/rpc": {`{"methods":["kv.*"]}`},
	})
	if len(caps) != 1 || string(caps["github.com/meshrpc/meshrpc/cap/rpc"][0]) != `{"methods":["kv.*"]}` {
		t.Fatalf("app caps: %v", caps)
	}
	if mesh.AppCaps(tailcfg.PeerCapMap{"https://tailscale.com/cap/ingress": nil}) != nil {
		t.Fatal("only Tailscale's caps: none")
	}
}
