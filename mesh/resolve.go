package mesh

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// resolveWait bounds how long a dial waits for a peer's name to appear in
// the tailnet map. Right after joining, the control server may not have sent
// the peers yet (Headscale sends them after Join returns).
const resolveWait = 5 * time.Second

// resolve finds the tailnet address of the node named host (its MagicDNS
// short or full name) from the tailnet map, never from the host's DNS.
func (n *Node) resolve(ctx context.Context, host string) (netip.Addr, error) {
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	ctx, cancel := context.WithTimeout(ctx, resolveWait)
	defer cancel()
	for {
		if addr, ok := n.lookup(ctx, name); ok {
			return addr, nil
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("mesh: no node named %q on the tailnet (meshrpc peers lists them)", host)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) lookup(ctx context.Context, name string) (netip.Addr, bool) {
	peers, err := n.Peers(ctx)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, p := range append(peers, n.self) {
		if len(p.Addrs) > 0 && (strings.EqualFold(p.Name, name) || strings.EqualFold(p.DNSName, name)) {
			return p.Addrs[0], true
		}
	}
	return netip.Addr{}, false
}
