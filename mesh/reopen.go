package mesh

import (
	"context"
	"sync"
	"time"

	"tailscale.com/tailcfg"
)

// reopenDelay is how long after a restart the node waits before opening
// WireGuard sessions itself.
const reopenDelay = 250 * time.Millisecond

// reopenSessions opens WireGuard sessions, after a short wait, to the
// online peers that have not handshaken with this node since it started.
//
// Why: when a node restarts, control tells its peers of the new process
// (a new disco key) a moment before the new process has its own network
// map. A peer that has calls waiting sends its handshake at once; the new
// process drops it, not knowing the peer yet, and the peer's WireGuard waits
// 5 s (REKEY_TIMEOUT) to try again, so the first call after a restart took
// 5 s in most restarts under load. A ping from this side, once it is ready,
// starts a handshake the peer answers. It waits reopenDelay first and skips
// peers that handshook already, so that it does not cross a handshake the
// peer is sending itself (two crossing handshakes both fail).
func (n *Node) reopenSessions(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(reopenDelay):
	}
	st, err := n.lc.Status(ctx)
	if err != nil {
		return
	}
	const maxPeers, parallel = 64, 8
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	count := 0
	for _, ps := range st.Peer {
		if !ps.Online || !ps.LastHandshake.IsZero() || len(ps.TailscaleIPs) == 0 || count == maxPeers {
			continue
		}
		count++
		ip := ps.TailscaleIPs[0]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			n.lc.Ping(pctx, ip, tailcfg.PingTSMP)
		})
	}
	wg.Wait()
}
