package mesh

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"tailscale.com/client/local"
)

// resolveWait bounds how long a dial waits for a peer's name to appear in
// the tailnet map. Right after joining, the control server may not have sent
// the peers yet (Headscale sends them after Join returns).
const resolveWait = 5 * time.Second

// resolve finds the tailnet address of the node named host (its MagicDNS
// short or full name) from the tailnet map, never from the host's DNS.
func (n *Node) resolve(ctx context.Context, host string) (netip.Addr, error) {
	return resolveIn(ctx, n.lc, host)
}

// resolveIn resolves host with the tailnet map of a LocalAPI. Once the map
// has peers, it is the answer: a name it lacks fails at once, and so does
// a node it reports offline (*OfflineError). Only an empty
// map (right after joining) is waited on, up to resolveWait; a LocalAPI
// that is slow to answer (a loaded machine) has the caller's whole time.
func resolveIn(ctx context.Context, lc *local.Client, host string) (netip.Addr, error) {
	deadline := time.Now().Add(resolveWait)
	for {
		self, peers, err := peersOf(ctx, lc)
		if err == nil {
			p, ferr := FindPeer(self, peers, host)
			switch {
			case ferr == nil:
				if err := CheckOnline(self, p); err != nil {
					return netip.Addr{}, err
				}
				return p.Addrs[0], nil
			case len(peers) > 0:
				return netip.Addr{}, ferr
			}
			err = ferr
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return netip.Addr{}, err
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkOnTailnet refuses an address that is no node's in the tailnet map
// (a dial for one would leave through the host's network instead), or
// whose node the map reports offline.
func checkOnTailnet(ctx context.Context, lc *local.Client, ip netip.Addr) error {
	self, peers, err := peersOf(ctx, lc)
	if err != nil {
		return err
	}
	for _, p := range append(peers, self) {
		if slices.Contains(p.Addrs, ip.Unmap()) {
			return CheckOnline(self, p)
		}
	}
	return fmt.Errorf("mesh: %s is not the address of a node on the tailnet (meshrpc peers lists them)", ip)
}
