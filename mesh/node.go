package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/tsnet"

	"github.com/meshrpc/meshrpc/mesh/internal/tsdebug"
)

// Node is this process's presence on a tailnet: one tsnet server. Close it to
// leave; a persistent node comes back with the same identity and address
// when joined again on the same state directory.
type Node struct {
	cfg Config
	ts  *tsnet.Server
	lc  *local.Client

	localTransport *http.Transport
	logs           *logFile
	self           Peer

	stopReopen context.CancelFunc // ends reopenSessions, for Config.Serves

	closeOnce sync.Once
	closeErr  error
}

// Join starts a tsnet node and waits until it is connected to the tailnet,
// logging in interactively (the URL goes to Config.Progress) when the state
// directory holds no identity and no auth key is given. It fails, rather than
// hangs, when the control server does not answer within
// Config.ControlTimeout or refuses the auth key.
func Join(ctx context.Context, cfg Config) (_ *Node, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if isLoopbackURL(cfg.ControlURL) {
		UseLoopbackOnly()
	}
	if err := prepareStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg}
	logf, err := n.openLogs()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if n.ts != nil {
				n.ts.Close()
			}
			n.logs.Close()
		}
	}()
	errs := &lastError{logf: logf}
	if err := n.startTailscale(errs); err != nil {
		return nil, err
	}
	loggedIn, err := n.waitRunning(ctx, errs)
	if err != nil {
		return nil, err
	}
	if err := n.learnSelf(ctx); err != nil {
		return nil, err
	}
	savePort(cfg.StateDir, n.wireGuardPort())
	if cfg.Serves {
		var reopenCtx context.Context
		reopenCtx, n.stopReopen = context.WithCancel(context.Background())
		go n.reopenSessions(reopenCtx)
	}
	if loggedIn { // after a login URL, say that the wait is over
		fmt.Fprintf(cfg.Progress, "meshrpc: %s joined the tailnet as %s (%s)\n", cfg.Hostname, n.self.DNSName, n.self.Addrs[0])
	}
	return n, nil
}

// prepareStateDir makes dir, readable by its owner only (it holds the
// node's keys), whoever made it before.
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mesh: create state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("mesh: state directory: %w", err)
	}
	return nil
}

// openLogs returns where tsnet's log lines go: cfg.Logf, or else a log
// file in the state directory, which Close closes.
func (n *Node) openLogs() (logf func(format string, args ...any), err error) {
	if n.cfg.Logf != nil {
		return n.cfg.Logf, nil
	}
	n.logs, err = openLogFile(n.cfg.StateDir)
	if err != nil {
		return nil, err
	}
	return n.logs.Printf, nil
}

// startTailscale starts the tsnet server, its log lines passing through
// errs, and makes the node's LocalAPI client. n.ts is set once it started.
func (n *Node) startTailscale(errs *lastError) error {
	cfg := n.cfg
	ts := &tsnet.Server{
		Dir:           cfg.StateDir,
		Hostname:      cfg.Hostname,
		ControlURL:    cfg.ControlURL,
		AuthKey:       cfg.AuthKey,
		Ephemeral:     cfg.Ephemeral,
		AdvertiseTags: cfg.Tags,
		Port:          savedPort(cfg.StateDir), // magicsock falls back to any port when it is taken
		Logf:          errs.Printf,
		UserLogf:      errs.Printf,
	}
	if err := ts.Start(); err != nil {
		return fmt.Errorf("mesh: start tailscale: %w", err)
	}
	n.ts = ts
	tsLC, err := ts.LocalClient()
	if err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	// Our own LocalAPI client, whose idle connections Close can drop: tsnet
	// waits 5 s at Close for a LocalAPI connection that was dialled and never
	// used, which concurrent WhoIs calls leave behind.
	n.localTransport = &http.Transport{DialContext: tsLC.Dial}
	n.lc = &local.Client{Dial: tsLC.Dial, Transport: n.localTransport}
	return nil
}

// learnSelf asks the joined node who and where it is on the tailnet.
func (n *Node) learnSelf(ctx context.Context) error {
	st, err := n.lc.StatusWithoutPeers(ctx)
	if err != nil {
		return fmt.Errorf("mesh: status after joining: %w", err)
	}
	if st.Self == nil || len(st.TailscaleIPs) == 0 {
		return errors.New("mesh: joined, but the tailnet gave this node no address")
	}
	n.self = peerFromStatus(st.Self, st.User)
	return nil
}

// Self describes this node as the tailnet sees it.
func (n *Node) Self() Peer { return n.self }

// StateDir is the directory holding the node's identity and logs.
func (n *Node) StateDir() string { return n.cfg.StateDir }

// Listen listens on the node's tailnet addresses only, never on the host's:
// Listen("tcp", ":4343").
func (n *Node) Listen(network, addr string) (net.Listener, error) {
	ln, err := n.ts.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("mesh: listen on tailnet %s: %w", addr, err)
	}
	return cleanCloseListener{ln}, nil
}

// Dial connects to addr ("home:4343", "home.tailnet.ts.net:4343" or
// "100.64.0.2:4343") over the tailnet.
func (n *Node) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mesh: dial %s: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil {
		ip, err := n.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		addr = net.JoinHostPort(ip.String(), port)
	} else if err := checkOnTailnet(ctx, n.lc, ip); err != nil {
		return nil, err
	}
	c, err := n.ts.Dial(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("mesh: dial %s over the tailnet: %w", addr, err)
	}
	return cleanClose(c), nil
}

// wireGuardPort is the local UDP port of the node's WireGuard, kept across
// restarts on the same state directory (see portFileName).
func (n *Node) wireGuardPort() uint16 {
	if ms, ok := n.ts.Sys().MagicSock.GetOK(); ok {
		return ms.LocalPort()
	}
	return 0
}

func init() {
	tsdebug.LocalClient = func(node any) *local.Client { return node.(*Node).lc }
}

// Close leaves the tailnet and releases the node's sockets, goroutines and
// files. It is idempotent.
//
// Close waits at most closeTimeout for tsnet: its Close can block in the
// network stack's queues after peers flooded the node, and a process that
// is stopping must not hang on it (then Close returns an error saying so,
// and the rest is left to the process's exit).
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.stopReopen != nil {
			n.stopReopen()
		}
		n.localTransport.CloseIdleConnections()
		closed := make(chan error, 1)
		go func() { closed <- n.ts.Close() }()
		var err error
		select {
		case err = <-closed:
			err = errors.Join(err, n.logs.Close())
		case <-time.After(closeTimeout):
			err = fmt.Errorf("mesh: tsnet did not close within %v; leaving it to the process's exit", closeTimeout)
		}
		n.closeErr = err
	})
	return n.closeErr
}

// closeTimeout bounds Close's wait for tsnet.
const closeTimeout = 5 * time.Second

// Addr is the node's first tailnet address (IPv4 when it has one).
func (n *Node) Addr() netip.Addr { return n.self.Addrs[0] }

func isLoopbackURL(u string) bool {
	host := u
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
