package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node/audit"
	"github.com/meshrpc/meshrpc/node/console"
	"github.com/meshrpc/meshrpc/node/stats"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
	"github.com/meshrpc/meshrpc/rpc/openrpc"
	"github.com/meshrpc/meshrpc/store"
)

// Node is a running meshrpc node. Register procedures on Registry, then
// Serve; Close releases everything.
type Node struct {
	cfg       Config
	mesh      *mesh.Node
	store     *store.Store
	reg       *rpc.Registry
	server    *rpc.Server
	logs      *logFile
	peerCache peerCache
	audit     *audit.Log
	stats     *stats.Stats
	started   time.Time
	selfLogin string // this node's own user, whose calls the audit keeps whole

	// Rules and command procedures change together on a reload.
	configMu sync.Mutex
	policy   atomic.Pointer[authz.Policy]
	commands []string // names of the command procedures registered

	closeOnce sync.Once
	closeErr  error
}

// New joins the tailnet, opens the store and registers the built-in
// procedures. It does not serve yet.
func New(ctx context.Context, cfg Config) (_ *Node, err error) {
	if _, err := parseRules(cfg.Allow, nil); err != nil {
		return nil, err
	}
	environment(&cfg.Hostname, &cfg.StateDir, &cfg.ControlURL)
	hostname, stateDir, err := resolveIdentity(cfg.Hostname, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	n := &Node{cfg: cfg, started: time.Now()}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	// The store first: a damaged data file stops the node before it joins.
	if n.store, err = openStore(cfg, stateDir); err != nil {
		return nil, err
	}
	if n.mesh, err = mesh.Join(ctx, cfg.meshConfig(hostname, stateDir)); err != nil {
		return nil, err
	}
	rememberHostname(stateDir, hostname)
	logger, err := n.openLogs(stateDir)
	if err != nil {
		return nil, err
	}
	n.reg = rpc.NewRegistry()
	openrpc.Register(n.reg, "meshrpc on "+n.mesh.Self().Name)
	registerSys(n.reg, n)
	registerKV(n.reg, n.store)
	registerAllowed(n.reg, n)
	registerStats(n.reg, n)
	registerPeers(n.reg, n)
	if err := n.Reconfigure(cfg.Allow, cfg.Commands); err != nil {
		return nil, err
	}
	self := n.mesh.Self()
	n.selfLogin = self.User
	n.server = rpc.NewServer(rpc.Config{
		Registry:  n.reg,
		Identify:  n.identify,
		Authorize: n.authorize,
		Observe:   n.observer(),
		NoCallLog: cfg.NoAccounting || n.logs != nil, // the audit writer writes the node's own call lines
		Pages:     console.Handler(),
		NodeName:  self.Name,
		Hosts:     hostsOf(self),
		Logger:    logger,
	})
	return n, nil
}

// openStore opens the node's store: Config.DataFile, by default kv.db in
// the state directory, or one in memory.
func openStore(cfg Config, stateDir string) (*store.Store, error) {
	if cfg.InMemory {
		return store.OpenInMemory()
	}
	path := cfg.DataFile
	if path == "" {
		path = filepath.Join(stateDir, "kv.db")
	}
	quota := &store.Quota{Prefix: "~", Bytes: cfg.PersonalBytes, Keys: cfg.PersonalKeys}
	if quota.Bytes <= 0 {
		quota.Bytes = DefaultPersonalBytes
	}
	if quota.Keys <= 0 {
		quota.Keys = DefaultPersonalKeys
	}
	return store.Open(path, &store.Options{Check: cfg.CheckStore, InitEmpty: cfg.InitStore, Quota: quota})
}

// openLogs opens what the node writes of its calls: its log (meshrpc.log in
// the state directory, unless Config.Logger is given), its statistics, and,
// unless Config.NoAccounting, its audit log, whose writer also writes the
// call lines of meshrpc.log off the calls' path.
func (n *Node) openLogs(stateDir string) (*slog.Logger, error) {
	logger := n.cfg.Logger
	if logger == nil {
		var err error
		if n.logs, err = openLogFile(filepath.Join(stateDir, "meshrpc.log")); err != nil {
			return nil, err
		}
		logger = slog.New(slog.NewTextHandler(n.logs, nil))
	}
	n.stats = stats.New()
	if n.cfg.NoAccounting {
		return logger, nil
	}
	var opts audit.Options
	if n.logs != nil {
		opts.CallLog = n.logs
	}
	var err error
	n.audit, err = audit.Open(filepath.Join(stateDir, AuditLogName), opts)
	return logger, err
}

// observer is the server's Config.Observe: nil for a node that keeps no
// record of its calls.
func (n *Node) observer() func(*rpc.CallRecord) {
	if n.audit == nil {
		return nil
	}
	return n.observe
}

func (n *Node) identify(ctx context.Context, remoteAddr string) (rpc.Caller, error) {
	id, err := n.mesh.WhoIs(ctx, remoteAddr)
	return rpc.Caller(id), err
}

// hostsOf lists the names and addresses a node answers to.
func hostsOf(self mesh.Peer) []string {
	hosts := []string{self.Name, self.DNSName}
	for _, a := range self.Addrs {
		hosts = append(hosts, a.String())
	}
	return hosts
}

// Registry is where procedures are registered; register before Serve.
func (n *Node) Registry() *rpc.Registry { return n.reg }

// Mesh is the node's tailnet presence.
func (n *Node) Mesh() *mesh.Node { return n.mesh }

// Store is the node's key-value store.
func (n *Node) Store() *store.Store { return n.store }

// Policy is the node's authorization policy now: its rules, with those of
// its command procedures.
func (n *Node) Policy() *authz.Policy { return n.policy.Load() }

// authorize is the server's Config.Authorize, the node's one decision of
// every call: a key a call names is checked first (so only a bounded,
// plain key is ever authorized or quoted), then the policy decides.
func (n *Node) authorize(ctx context.Context, c rpc.Caller, a rpc.Access) (rpc.Grant, error) {
	if a.KeyKnown {
		check := store.CheckKey
		if a.Keys == rpc.KeyPrefix {
			check = store.CheckPrefix
		}
		if err := check(a.Key); err != nil {
			return rpc.Grant{}, &rpc.Error{Code: rpc.CodeInvalidParams, Message: "invalid params for " + a.Method + ": " + err.Error()}
		}
	}
	return n.policy.Load().Authorize(ctx, c, a)
}

// Name is the node's MagicDNS short name.
func (n *Node) Name() string { return n.mesh.Self().Name }

// Addr is the node's RPC address on the tailnet ("100.64.0.1:4343").
func (n *Node) Addr() string {
	return net.JoinHostPort(n.mesh.Addr().String(), strconv.Itoa(n.cfg.Port))
}

// Serve serves calls on the node's tailnet address, and the CLI on a unix
// socket in the state directory, until ctx ends; then it drains calls in
// flight (up to 10 s) and closes the node.
func (n *Node) Serve(ctx context.Context) error {
	ln, err := n.mesh.Listen("tcp", ":"+strconv.Itoa(n.cfg.Port))
	if err != nil {
		return err
	}
	sock, err := listenSocket(filepath.Join(n.mesh.StateDir(), SocketName))
	if err != nil {
		ln.Close()
		return err
	}
	local := newSocketServer(n)
	errc := make(chan error, 2)
	go func() { errc <- n.server.Serve(ln) }()
	go func() { errc <- local.serve(sock) }()

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sock.Close()
	local.close()
	shutErr := n.server.Shutdown(shutdownCtx)
	if errors.Is(shutErr, context.DeadlineExceeded) {
		// Calls whose callers stopped reading (or that outlived the drain):
		// dropped, as Serve promises; stopping on time is not a failure.
		fmt.Fprintln(n.progress(), "meshrpc: calls still in flight after 10 s were dropped; their callers were not reading or their handlers did not return")
		shutErr = nil
	}
	if errors.Is(err, rpc.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, shutErr, n.Close())
}

// The personal space quota's defaults (Config.PersonalBytes, PersonalKeys).
const (
	DefaultPersonalBytes = 64 << 20
	DefaultPersonalKeys  = 100_000
)

// Close leaves the tailnet and closes the store. It is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.server != nil {
			errs = append(errs, ignoreClosed(n.server.Close()))
		}
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
		if n.mesh != nil {
			errs = append(errs, n.mesh.Close())
		}
		if n.audit != nil {
			errs = append(errs, n.audit.Close())
		}
		errs = append(errs, n.logs.Close())
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

func ignoreClosed(err error) error {
	if errors.Is(err, rpc.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// isSelf reports whether host names this node.
func (n *Node) isSelf(host string) bool {
	self := n.mesh.Self()
	if host == self.Name || host == self.DNSName || host == "localhost" {
		return true
	}
	if a, err := netip.ParseAddr(host); err == nil {
		for _, sa := range self.Addrs {
			if a == sa {
				return true
			}
		}
		return a.IsLoopback()
	}
	return false
}
