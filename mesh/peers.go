package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"
)

// Peer is a node of the tailnet as this node sees it.
type Peer struct {
	Name    string       `json:"name"`     // MagicDNS short name ("home")
	DNSName string       `json:"dns_name"` // full MagicDNS name, no trailing dot
	Addrs   []netip.Addr `json:"addrs"`    // tailnet addresses, IPv4 first
	OS      string       `json:"os"`
	Online  bool         `json:"online"`
	// LastSeen is when the control server last saw an offline node
	// connected; zero for an online one, or when it does not say.
	LastSeen time.Time `json:"last_seen,omitzero"`
	Tags     []string  `json:"tags,omitempty"`
	User     string    `json:"user"` // owner's login; tagged nodes have the tailnet's tagged-devices user
	// Relay is the DERP region code used when there is no direct path yet.
	Relay string `json:"relay,omitempty"`
	// CurAddr is the direct UDP endpoint in use, empty when relayed or idle.
	CurAddr string `json:"cur_addr,omitempty"`
}

// Identity is who is at the other end of a tailnet connection, as the
// tailnet (not the peer) says. Its fields match rpc.Caller's one for one, so
// node converts it with a plain type conversion; keep them in step.
type Identity struct {
	Node     string
	NodeFQDN string
	Login    string
	Tags     []string
	Addr     string
	Caps     map[string][]json.RawMessage
}

// Peers lists every other node of the tailnet, sorted by name.
func (n *Node) Peers(ctx context.Context) ([]Peer, error) {
	_, peers, err := peersOf(ctx, n.lc)
	return peers, err
}

// peersOf asks a LocalAPI (tsnet's or tailscaled's) for the node itself and
// its peers, sorted by name.
func peersOf(ctx context.Context, lc *local.Client) (Peer, []Peer, error) {
	st, err := lc.Status(ctx)
	if err != nil {
		return Peer{}, nil, fmt.Errorf("mesh: tailnet status: %w", err)
	}
	var self Peer
	if st.Self != nil {
		self = peerFromStatus(st.Self, st.User)
	}
	peers := make([]Peer, 0, len(st.Peer))
	for _, ps := range st.Peer {
		peers = append(peers, peerFromStatus(ps, st.User))
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return self, peers, nil
}

// Ping is a tailnet-level ping's answer: how long, and by which path.
type Ping struct {
	LatencyMs float64 `json:"latency_ms"`
	// Path is "direct" (peer to peer, Endpoint says where) or "relayed"
	// (through the DERP server of region DERPRegion).
	Path       string `json:"path"`
	Endpoint   string `json:"endpoint,omitempty"`
	DERPRegion string `json:"derp_region,omitempty"`
}

// Ping sends a disco ping to the peer at addr: the tailnet's own round trip
// and the path it takes, below any TCP or RPC.
func (n *Node) Ping(ctx context.Context, addr netip.Addr) (Ping, error) {
	return ping(ctx, n.lc, addr)
}

func ping(ctx context.Context, lc *local.Client, addr netip.Addr) (Ping, error) {
	res, err := lc.Ping(ctx, addr, tailcfg.PingDisco)
	switch {
	case err != nil:
		return Ping{}, fmt.Errorf("mesh: ping %s: %w", addr, err)
	case res.Err != "":
		return Ping{}, fmt.Errorf("mesh: ping %s: %s", addr, res.Err)
	}
	p := Ping{LatencyMs: res.LatencySeconds * 1000, Path: "direct", Endpoint: res.Endpoint}
	if res.Endpoint == "" {
		p.Path, p.DERPRegion = "relayed", res.DERPRegionCode
	}
	return p, nil
}

// WhoIs names the node and user behind remoteAddr ("100.64.0.3:51234"), the
// remote address of a connection accepted on this node's tailnet listener,
// with the app capabilities the tailnet grants it on this node.
func (n *Node) WhoIs(ctx context.Context, remoteAddr string) (Identity, error) {
	res, err := n.lc.WhoIs(ctx, remoteAddr)
	if err != nil {
		return Identity{}, fmt.Errorf("mesh: who is %s: %w", remoteAddr, err)
	}
	id := Identity{Addr: remoteAddr}
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		id.Addr = ap.Addr().String()
	}
	if node := res.Node; node != nil {
		id.NodeFQDN = strings.TrimSuffix(node.Name, ".")
		id.Node = shortName(node.Name, node.ComputedName)
		id.Tags = slices.Clone(node.Tags)
	}
	if res.UserProfile != nil {
		id.Login = res.UserProfile.LoginName
	}
	id.Caps = appCaps(res.CapMap)
	return id, nil
}

// tailscaleCaps prefixes the capabilities Tailscale grants for its own
// features (ingress, funnel, drive...): not grants a tailnet's admin wrote
// for applications, so they are left out of an Identity.
const tailscaleCaps = "https://tailscale.com/cap/"

// appCaps is the application capabilities of a WhoIs answer's CapMap.
func appCaps(capMap tailcfg.PeerCapMap) map[string][]json.RawMessage {
	var caps map[string][]json.RawMessage
	for name, vals := range capMap {
		if strings.HasPrefix(string(name), tailscaleCaps) {
			continue
		}
		raw := make([]json.RawMessage, len(vals))
		for i, v := range vals {
			raw[i] = json.RawMessage(v)
		}
		if caps == nil {
			caps = map[string][]json.RawMessage{}
		}
		caps[string(name)] = raw
	}
	return caps
}

func peerFromStatus(ps *ipnstate.PeerStatus, users map[tailcfg.UserID]tailcfg.UserProfile) Peer {
	p := Peer{
		Name:    shortName(ps.DNSName, ps.HostName),
		DNSName: strings.TrimSuffix(ps.DNSName, "."),
		Addrs:   slices.Clone(ps.TailscaleIPs),
		OS:      ps.OS,
		Online:  ps.Online,
		Relay:   ps.Relay,
		CurAddr: ps.CurAddr,
		User:    users[ps.UserID].LoginName,
	}
	if !ps.Online {
		p.LastSeen = ps.LastSeen
	}
	if ps.Tags != nil {
		p.Tags = ps.Tags.AsSlice()
	}
	slices.SortStableFunc(p.Addrs, func(a, b netip.Addr) int {
		if a.Is4() == b.Is4() {
			return 0
		}
		if a.Is4() {
			return -1
		}
		return 1
	})
	return p
}

// shortName is the first label of a MagicDNS name, or fallback without one.
func shortName(dnsName, fallback string) string {
	if name, _, _ := strings.Cut(strings.TrimSuffix(dnsName, "."), "."); name != "" {
		return name
	}
	return fallback
}
