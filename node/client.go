package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/rpc"
)

// How a Client reaches the tailnet (ClientConfig.Via).
const (
	ViaAuto      = "auto"      // the first that works of the three below
	ViaSocket    = "socket"    // a `meshrpc serve` on this machine, through its socket
	ViaTailscale = "tailscale" // this machine's tailscaled
	ViaTsnet     = "tsnet"     // a tailnet node of the client's own
)

// ClientConfig configures the calling side. Its fields mean what they mean
// in Config; the zero value uses the default state directory.
type ClientConfig struct {
	Hostname       string
	StateDir       string
	ControlURL     string
	AuthKey        string
	Progress       io.Writer
	TailscaleLogf  func(format string, args ...any)
	ControlTimeout time.Duration
	Port           int      // peers' port; default 4343
	Tags           []string // ACL tags this node asks for when it first joins

	// Via chooses the way to the tailnet: ViaAuto (default) tries a serving
	// node's socket, then tailscaled, then joins as a node of its own;
	// ViaTailscale insists on tailscaled; ViaTsnet never uses it.
	Via string
	// TailscaleSocket is tailscaled's LocalAPI socket; default the
	// platform's.
	TailscaleSocket string

	// NoSocket makes Dial start its own tailnet node even when a serving
	// node's socket is there.
	NoSocket bool

	// Retries is how often a call is tried again after a transport failure;
	// see rpc.ClientConfig.Retries. Default 0.
	Retries int
}

// Client calls procedures on peers by name, reaching the tailnet the way
// Via reports.
type Client struct {
	port    int
	retries int
	net     tailnet
	via     string // ViaSocket, ViaTailscale or ViaTsnet
	route   string // how, in words: "the serving node's socket /x/meshrpc.sock"
	tried   []string

	mu      sync.Mutex
	clients map[string]*rpc.Client
	offline map[string]mesh.Peer // by the names and addresses of each; see client_offline.go

	watchOnce sync.Once
	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// tailnet is one way to the tailnet.
type tailnet interface {
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	Peers(ctx context.Context) (self mesh.Peer, peers []mesh.Peer, err error)
	Ping(ctx context.Context, addr netip.Addr) (mesh.Ping, error)
	WatchPeers(ctx context.Context, fn func([]mesh.Peer) error) error
	Close() error
}

// Dial prepares a Client. Through a serving node or tailscaled it is
// instant; otherwise it joins the tailnet (logging in the first time).
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	environment(&cfg.Hostname, &cfg.StateDir, &cfg.ControlURL)
	hostname, stateDir, err := resolveIdentity(cfg.Hostname, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	c := &Client{port: cfg.Port, retries: cfg.Retries, clients: map[string]*rpc.Client{}}
	if c.port == 0 {
		c.port = DefaultPort
	}
	via, err := checkVia(cfg.Via)
	if err != nil {
		return nil, err
	}

	if via != ViaTailscale && !cfg.NoSocket {
		sock := filepath.Join(stateDir, SocketName)
		if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			conn.Close()
			c.net, c.via, c.route = socketTailnet(sock), ViaSocket, "the serving node's socket "+sock
			return c, nil
		}
		c.tried = append(c.tried, "no meshrpc serve with state dir "+stateDir)
	}
	if via != ViaTsnet {
		ts, err := mesh.UseTailscale(ctx, cfg.TailscaleSocket, cfg.ControlURL)
		if err == nil {
			self := ts.Self()
			c.net, c.via = tailscaleTailnet{ts}, ViaTailscale
			c.route = fmt.Sprintf("this machine's tailscaled, as %s (%s)", self.Name, self.User)
			return c, nil
		}
		if via == ViaTailscale {
			return nil, fmt.Errorf("node: --via tailscale: %w", err)
		}
		c.tried = append(c.tried, err.Error())
	}
	mc := mesh.Config{
		Hostname:       hostname,
		StateDir:       stateDir,
		ControlURL:     cfg.ControlURL,
		AuthKey:        cfg.AuthKey,
		Tags:           cfg.Tags,
		Logf:           cfg.TailscaleLogf,
		ControlTimeout: cfg.ControlTimeout,
	}
	if cfg.Progress != nil {
		mc.Progress = cfg.Progress
	}
	m, err := mesh.Join(ctx, mc)
	if err != nil {
		return nil, err
	}
	rememberHostname(stateDir, hostname)
	c.net, c.via, c.route = ownNode{m}, ViaTsnet, fmt.Sprintf("a tsnet node of its own, %s (state dir %s)", m.Self().Name, stateDir)
	return c, nil
}

// checkVia is ClientConfig.Via, ViaAuto when empty.
func checkVia(via string) (string, error) {
	switch via {
	case "":
		return ViaAuto, nil
	case ViaAuto, ViaTailscale, ViaTsnet:
		return via, nil
	}
	return "", fmt.Errorf("node: via %q: want auto, tailscale or tsnet", via)
}

// Via says which way the client reaches the tailnet: ViaSocket,
// ViaTailscale or ViaTsnet.
func (c *Client) Via() string { return c.via }

// Route says the way in words, and Tried why the ways before it were not
// taken.
func (c *Client) Route() (route string, tried []string) { return c.route, c.tried }

// Call calls method on peer ("home", "home.tailnet.ts.net", an address, or
// any of those with :port) and decodes the result into result.
//
// A name no node of the tailnet has fails at once with a
// *mesh.NoNodeError (errors.Is mesh.ErrNoSuchNode) that suggests the
// names like it, and a name two nodes share with an error naming both
// (mesh.ErrAmbiguousName): the tailnet map is the answer, so they are not
// retried. So does a node that the tailnet reports offline, with a
// *mesh.OfflineError (errors.Is mesh.ErrOffline) saying when it was last
// seen; a call already under way to a node that goes offline ends with it
// too, within seconds of the tailnet saying so (see client_offline.go).
func (c *Client) Call(ctx context.Context, peer, method string, params, result any) error {
	c.watchOffline()
	if err := c.known(ctx, peer); err != nil {
		var oe *mesh.OfflineError
		if errors.As(err, &oe) { // as the dial would have failed
			err = &rpc.TransportError{Addr: peer, Method: method, Err: oe}
		}
		return c.callError(peer, method, err)
	}
	if err := c.rpc(peer).Call(ctx, method, params, result); err != nil {
		return c.callError(peer, method, err)
	}
	return nil
}

// known checks, the first time a peer is called by name, that the tailnet
// map has one node of that name, and that it is not offline. An empty map
// (a node that has only just joined) is left to the dial, which waits for
// it.
func (c *Client) known(ctx context.Context, peer string) error {
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	c.mu.Lock()
	_, ok := c.clients[net.JoinHostPort(host, strconv.Itoa(c.port))]
	c.mu.Unlock()
	if ok || host != peer {
		return nil // checked before, or an explicit host:port
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // an address: the dial checks it is on the tailnet
	}
	self, peers, err := c.net.Peers(ctx)
	if err != nil || len(peers) == 0 {
		return nil
	}
	p, err := mesh.FindPeer(self, peers, host)
	if err != nil {
		return err
	}
	return mesh.CheckOnline(self, p)
}

// RPC returns the rpc client for peer, for batches and notifications.
func (c *Client) RPC(peer string) *rpc.Client { return c.rpc(peer) }

func (c *Client) rpc(peer string) *rpc.Client {
	addr := peer
	if _, _, err := net.SplitHostPort(peer); err != nil {
		addr = net.JoinHostPort(peer, strconv.Itoa(c.port))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rc, ok := c.clients[addr]
	if !ok {
		rc = rpc.NewClient(rpc.ClientConfig{Addr: addr, Dial: c.net.Dial, Stream: true, Retries: c.retries})
		c.clients[addr] = rc
	}
	return rc
}

// Peers lists this node (self) and the other nodes of the tailnet.
func (c *Client) Peers(ctx context.Context) (self mesh.Peer, peers []mesh.Peer, err error) {
	return c.net.Peers(ctx)
}

// Ping pings the peer at addr below RPC: the tailnet's round trip and path.
func (c *Client) Ping(ctx context.Context, addr netip.Addr) (mesh.Ping, error) {
	return c.net.Ping(ctx, addr)
}

// WatchPeers calls fn with the peers now and after each change the
// tailnet reports, until ctx ends.
func (c *Client) WatchPeers(ctx context.Context, fn func([]mesh.Peer) error) error {
	return c.net.WatchPeers(ctx, fn)
}

// Close releases the client's connections and, if it joined the tailnet
// itself, leaves it.
func (c *Client) Close() error {
	c.stopWatching()
	c.mu.Lock()
	for _, rc := range c.clients {
		rc.Close()
	}
	c.mu.Unlock()
	return c.net.Close()
}

// ownNode is the client's own tsnet node.
type ownNode struct{ *mesh.Node }

// peersWait bounds how long Peers waits for a first peer on a node that has
// just joined.
const peersWait = 2 * time.Second

func (o ownNode) Peers(ctx context.Context) (mesh.Peer, []mesh.Peer, error) {
	// Right after joining, some control servers (Headscale) send the peers
	// a moment after the node is up: give them that moment.
	deadline := time.Now().Add(peersWait)
	for {
		peers, err := o.Node.Peers(ctx)
		if err != nil || len(peers) > 0 || time.Now().After(deadline) {
			return o.Self(), peers, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tailscaleTailnet is this machine's tailscaled.
type tailscaleTailnet struct{ *mesh.Tailscale }

func (t tailscaleTailnet) Peers(ctx context.Context) (mesh.Peer, []mesh.Peer, error) {
	peers, err := t.Tailscale.Peers(ctx)
	return t.Self(), peers, err
}

func (t tailscaleTailnet) Close() error { return nil }
