package node

import (
	"context"
	"errors"
	"github.com/meshrpc/meshrpc/node/api"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/meshrpc/meshrpc/rpc"
)

// peerProbe bounds one probe; peersCache how long answers are reused, so
// that a page reloading sys.peers does not make the node call every peer.
const (
	peerProbe  = time.Second
	peersCache = 10 * time.Second
)

// peerCache holds the probes' answers by address. A probe runs on the
// node's behalf, not the caller's: outside the lock, with its own timeout,
// shared by the callers that ask meanwhile, and a caller that gives up
// leaves it running. Only a real answer is kept (a result, an error, a
// refused connection), never a probe that ran out of time.
type peerCache struct {
	mu       sync.Mutex
	answers  map[string]probeAnswer
	inflight map[string]*probeAnswer // done closed when the probe ends
}

type probeAnswer struct {
	meshrpc bool
	version string
	at      time.Time
	done    chan struct{}
}

func registerPeers(r *rpc.Registry, n *Node) {
	rpc.Register(r, "sys.peers", "The tailnet peers this node sees, and which of them run meshrpc.",
		func(ctx context.Context, _ api.NoParams) ([]api.PeerStatus, error) {
			return n.peerStatus(ctx)
		}).ReadOnly = true
}

func (n *Node) peerStatus(ctx context.Context) ([]api.PeerStatus, error) {
	peers, err := n.mesh.Peers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.PeerStatus, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		out[i].Peer = p
		if p.Online && len(p.Addrs) > 0 {
			wg.Go(func() { out[i].Meshrpc, out[i].Version = n.probeCached(ctx, p.Addrs[0].String()) })
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// probeCached answers from the cache, or waits for the probe of addr (its
// own, or one already running) or for ctx to end.
func (n *Node) probeCached(ctx context.Context, addr string) (bool, string) {
	c := &n.peerCache
	c.mu.Lock()
	if a, ok := c.answers[addr]; ok && time.Since(a.at) < peersCache {
		c.mu.Unlock()
		return a.meshrpc, a.version
	}
	f, ok := c.inflight[addr]
	if !ok {
		f = &probeAnswer{done: make(chan struct{})}
		if c.inflight == nil {
			c.inflight, c.answers = map[string]*probeAnswer{}, map[string]probeAnswer{}
		}
		c.inflight[addr] = f
		go func() {
			meshrpc, version, answered := n.probe(context.WithoutCancel(ctx), addr)
			c.mu.Lock()
			f.meshrpc, f.version, f.at = meshrpc, version, time.Now()
			delete(c.inflight, addr)
			if answered {
				c.answers[addr] = *f
			}
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.meshrpc, f.version
	case <-ctx.Done():
		return false, ""
	}
}

// probe asks a peer's sys.info, within peerProbe: whether it runs meshrpc
// (RunsMeshrpc), its version when it says, and whether it answered at all
// (a refused connection is an answer; running out of time is not).
func (n *Node) probe(ctx context.Context, addr string) (meshrpc bool, version string, answered bool) {
	ctx, cancel := context.WithTimeout(ctx, peerProbe)
	defer cancel()
	rc := rpc.NewClient(rpc.ClientConfig{Addr: net.JoinHostPort(addr, strconv.Itoa(DefaultPort)), Dial: n.mesh.Dial})
	defer rc.Close()
	var info api.Info
	err := rc.Call(ctx, "sys.info", nil, &info)
	var ne net.Error
	timedOut := ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	return RunsMeshrpc(err), info.Version, RunsMeshrpc(err) || !timedOut
}

// RunsMeshrpc reports whether the outcome of a call to a peer's sys.info
// shows that meshrpc answered: a result, or a JSON-RPC error (a denial
// included), as opposed to no answer at all. `meshrpc peers` and sys.peers
// both judge peers by it.
func RunsMeshrpc(err error) bool {
	var e *rpc.Error
	return err == nil || errors.As(err, &e)
}
