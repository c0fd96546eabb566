package mesh

import (
	"context"
	"fmt"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
)

// WatchPeers calls fn with the tailnet's peers now, and again each time the
// tailnet's event bus reports that a peer joined, left or changed (online,
// endpoints, DERP home), until ctx ends (then it returns nil) or fn fails.
func (n *Node) WatchPeers(ctx context.Context, fn func([]Peer) error) error {
	return watchPeers(ctx, n.lc, fn)
}

// WatchPeers is Node.WatchPeers through tailscaled.
func (t *Tailscale) WatchPeers(ctx context.Context, fn func([]Peer) error) error {
	return watchPeers(ctx, t.lc, fn)
}

func watchPeers(ctx context.Context, lc *local.Client, fn func([]Peer) error) error {
	w, err := lc.WatchIPNBus(ctx, ipn.NotifyInitialStatus|ipn.NotifyPeerChanges)
	if err != nil {
		return fmt.Errorf("mesh: watching the tailnet: %w", err)
	}
	defer w.Close()
	for {
		n, err := w.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("mesh: watching the tailnet: %w", err)
		}
		if n.InitialStatus == nil && len(n.PeersChanged) == 0 && len(n.PeersRemoved) == 0 && n.State == nil {
			continue
		}
		_, peers, err := peersOf(ctx, lc)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := fn(peers); err != nil {
			return err
		}
	}
}
