package node

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

// peerProbe bounds one probe; peersCache how long answers are reused, so
// that a page reloading sys.peers does not make the node call every peer.
const (
	peerProbe  = time.Second
	peersCache = 10 * time.Second
)

type peerCache struct {
	mu    sync.Mutex
	at    time.Time
	peers []api.PeerStatus
}

func registerPeers(r *rpc.Registry, n *Node) {
	rpc.Register(r, "sys.peers", "The tailnet peers this node sees, and which of them run meshrpc.",
		func(ctx context.Context, _ api.NoParams) ([]api.PeerStatus, error) {
			return n.peerStatus(ctx)
		}).ReadOnly = true
}

func (n *Node) peerStatus(ctx context.Context) ([]api.PeerStatus, error) {
	c := &n.peerCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peers != nil && time.Since(c.at) < peersCache {
		return c.peers, nil
	}
	peers, err := n.mesh.Peers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.PeerStatus, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		out[i].Peer = p
		if p.Online && len(p.Addrs) > 0 {
			wg.Go(func() { out[i].Meshrpc, out[i].Version = n.probe(ctx, p.Addrs[0].String()) })
		}
	}
	wg.Wait()
	c.peers, c.at = out, time.Now()
	return out, nil
}

// probe asks a peer's sys.info: whether it runs meshrpc (RunsMeshrpc),
// and its version when it says.
func (n *Node) probe(ctx context.Context, addr string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, peerProbe)
	defer cancel()
	rc := rpc.NewClient(rpc.ClientConfig{Addr: net.JoinHostPort(addr, strconv.Itoa(DefaultPort)), Dial: n.mesh.Dial})
	defer rc.Close()
	var info api.Info
	err := rc.Call(ctx, "sys.info", nil, &info)
	return RunsMeshrpc(err), info.Version
}

// RunsMeshrpc reports whether the outcome of a call to a peer's sys.info
// shows that meshrpc answered: a result, or a JSON-RPC error (a denial
// included), as opposed to no answer at all. `meshrpc peers` and sys.peers
// both judge peers by it.
func RunsMeshrpc(err error) bool {
	var e *rpc.Error
	return err == nil || errors.As(err, &e)
}
