package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/rpc"
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

	// NoSocket makes Dial start its own tailnet node even when a serving
	// node's socket is there.
	NoSocket bool
}

// Client calls procedures on peers by name. It reaches the tailnet through
// the local socket of a `meshrpc serve` using the same state directory when
// one runs (calls then take milliseconds), else as a tailnet node of its own
// whose identity persists in the state directory.
type Client struct {
	port   int
	socket string     // set when calling through a serving node
	mesh   *mesh.Node // set when calling as a node of our own

	mu      sync.Mutex
	clients map[string]*rpc.Client
}

// Dial prepares a Client. Through a serving node it is instant; otherwise
// it joins the tailnet (logging in the first time).
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	hostname, stateDir, err := resolveIdentity(cfg.Hostname, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	c := &Client{port: cfg.Port, clients: map[string]*rpc.Client{}}
	if c.port == 0 {
		c.port = DefaultPort
	}
	sock := filepath.Join(stateDir, SocketName)
	if !cfg.NoSocket {
		if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			conn.Close()
			c.socket = sock
			return c, nil
		}
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
	if c.mesh, err = mesh.Join(ctx, mc); err != nil {
		return nil, err
	}
	rememberHostname(stateDir, hostname)
	return c, nil
}

// Via says how the client reaches the tailnet: "socket PATH" or "tsnet".
func (c *Client) Via() string {
	if c.socket != "" {
		return "socket " + c.socket
	}
	return "tsnet"
}

// Call calls method on peer ("home", "home.tailnet.ts.net", an address, or
// any of those with :port) and decodes the result into result.
func (c *Client) Call(ctx context.Context, peer, method string, params, result any) error {
	return c.rpc(peer).Call(ctx, method, params, result)
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
		rc = rpc.NewClient(rpc.ClientConfig{Addr: addr, Dial: c.dial, Stream: true})
		c.clients[addr] = rc
	}
	return rc
}

func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.mesh != nil {
		return c.mesh.Dial(ctx, network, addr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("node: the serving node's socket %s: %w", c.socket, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("node: connecting to %s through %s: %w", addr, c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		conn.Close()
		return nil, fmt.Errorf("node: connecting to %s through the serving node: %s", addr, trimSpace(msg))
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// peersWait bounds how long Peers waits for a first peer on a node that has
// just joined.
const peersWait = 2 * time.Second

// Peers lists this node (self) and the other nodes of the tailnet.
func (c *Client) Peers(ctx context.Context) (self mesh.Peer, peers []mesh.Peer, err error) {
	if c.mesh != nil {
		// Right after joining, some control servers (Headscale) send the
		// peers a moment after the node is up: give them that moment.
		deadline := time.Now().Add(peersWait)
		for {
			peers, err = c.mesh.Peers(ctx)
			if err != nil || len(peers) > 0 || time.Now().After(deadline) {
				return c.mesh.Self(), peers, err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.socket)
		},
	}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://local/peers", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return self, nil, fmt.Errorf("node: peers through %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	var st PeersStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return self, nil, fmt.Errorf("node: peers through %s: %w", c.socket, err)
	}
	return st.Self, st.Peers, nil
}

// Close releases the client's connections and, if it joined the tailnet
// itself, leaves it.
func (c *Client) Close() error {
	c.mu.Lock()
	for _, rc := range c.clients {
		rc.Close()
	}
	c.mu.Unlock()
	if c.mesh != nil {
		return c.mesh.Close()
	}
	return nil
}

func trimSpace(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}
