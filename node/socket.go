package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshrpc/meshrpc/mesh"
)

// The local socket lets the CLI use a serving node's tailnet presence instead
// of starting its own tsnet node, which would take a second or more. It
// speaks HTTP: CONNECT host:port opens a tailnet connection (to a peer, or to
// this node itself), GET /peers lists the tailnet. Only the node's own OS user
// may use it: the socket file is 0600 and each connection's peer credentials
// are checked.

func listenSocket(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("node: another meshrpc serve is already running with state in %s (its socket %s answers)", path[:len(path)-len(SocketName)-1], path)
	}
	os.Remove(path) // a stale socket from a node that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("node: local socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("node: local socket: %w", err)
	}
	return &sameUserListener{Listener: ln, uid: os.Getuid()}, nil
}

// sameUserListener refuses connections from other users, in case the
// socket's mode was loosened.
type sameUserListener struct {
	net.Listener
	uid int
}

func (l *sameUserListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uc, ok := c.(*net.UnixConn); ok {
			if uid, pid := peerCred(uc); uid == l.uid {
				return &credConn{Conn: c, pid: pid}, nil
			}
		}
		c.Close()
	}
}

// peerCred is the user and process at the other end of c.
func peerCred(c *net.UnixConn) (uid, pid int) {
	uid, pid = -1, 0
	raw, err := c.SyscallConn()
	if err != nil {
		return uid, pid
	}
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid, pid = int(cred.Uid), int(cred.Pid)
		}
	})
	return uid, pid
}

// credConn is a local connection with the process that made it.
type credConn struct {
	net.Conn
	pid int
}

// SyscallConn is the socket's, so that a program's connection can write
// without waiting (lineConn.writeNow).
func (c *credConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

type socketServer struct {
	node     *Node
	http     *http.Server
	httpIn   *pipeListener // the CLI's connections, for http
	self     *pipeListener // connections to the node's own rpc server
	programs *programs
}

// newSocketServer makes the whole server before serve runs on its own
// goroutine, so that close, from another, finds it made.
func newSocketServer(n *Node) *socketServer {
	s := &socketServer{node: n, self: newPipeListener(n.mesh.Addr().String())}
	s.httpIn = newPipeListener("127.0.0.1")
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.programs = newPrograms(n, servingTailnet{ownNode: ownNode{n.mesh}, isSelf: n.isSelf, dialSelf: s.self.dial})
	return s
}

func (s *socketServer) serve(ln net.Listener) error {
	go s.node.server.Serve(s.self)
	go s.sort(ln)
	err := s.http.Serve(s.httpIn)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// sort hands each connection to the CLI's HTTP server or, when its first
// byte opens a JSON object, to the programs.
func (s *socketServer) sort(ln net.Listener) {
	defer s.httpIn.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			r := bufio.NewReaderSize(c, 64<<10)
			c.SetReadDeadline(time.Now().Add(programHelloTimeout))
			first, err := r.Peek(1)
			c.SetReadDeadline(time.Time{})
			switch {
			case err != nil:
				c.Close()
			case first[0] == '{':
				pid := 0
				if cc, ok := c.(*credConn); ok {
					pid = cc.pid
				}
				s.programs.serve(newLineConn(c, r), pid)
			default:
				if s.httpIn.deliver(&readConn{Conn: c, r: r}) != nil {
					c.Close()
				}
			}
		}()
	}
}

func (s *socketServer) close() {
	s.programs.close()
	s.http.Close()
	s.httpIn.Close()
	s.self.Close()
}

// readConn is a connection whose first bytes were read ahead into r.
type readConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// socketPeers is the answer of GET /peers on the local socket (a wire
// type between this package's server and client only).
type socketPeers struct {
	Self  mesh.Peer   `json:"self"`
	Peers []mesh.Peer `json:"peers"`
}

func (s *socketServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		s.connect(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/peers":
		peers, err := s.node.mesh.Peers(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(socketPeers{Self: s.node.mesh.Self(), Peers: peers})
	case r.Method == http.MethodGet && r.URL.Path == "/watch":
		w.Header().Set("Content-Type", "application/x-ndjson")
		rc := http.NewResponseController(w)
		enc := json.NewEncoder(w)
		s.node.mesh.WatchPeers(r.Context(), func(peers []mesh.Peer) error {
			if err := enc.Encode(peers); err != nil {
				return err
			}
			return rc.Flush()
		})
	case r.Method == http.MethodPost && r.URL.Path == "/backup":
		s.serveBackup(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/ping":
		addr, err := netip.ParseAddr(r.URL.Query().Get("addr"))
		if err != nil {
			http.Error(w, "ping needs ?addr=IP", http.StatusBadRequest)
			return
		}
		p, err := s.node.mesh.Ping(r.Context(), addr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p)
	default:
		http.NotFound(w, r)
	}
}

func (s *socketServer) connect(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, "CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	var conn net.Conn
	if s.node.isSelf(host) {
		conn, err = s.self.dial()
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		conn, err = s.node.mesh.Dial(ctx, "tcp", r.Host)
		cancel()
	}
	if err != nil {
		setDialError(w.Header(), err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer conn.Close()
	w.WriteHeader(http.StatusOK)
	client, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer client.Close()
	if n := buf.Reader.Buffered(); n > 0 {
		b, _ := buf.Reader.Peek(n)
		conn.Write(b)
	}
	splice(client, conn)
}

// splice copies both ways until either side closes.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(a, b); a.Close() })
	wg.Go(func() { io.Copy(b, a); b.Close() })
	wg.Wait()
}

// pipeListener hands in-process connections to the node's own rpc server,
// for CLI calls addressed to the serving node itself. Their remote address is
// the node's own tailnet address, so WhoIs names the node.
type pipeListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener(selfIP string) *pipeListener {
	return &pipeListener{
		addr:  &net.TCPAddr{IP: net.ParseIP(selfIP), Port: 1},
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
	}
}

func (l *pipeListener) dial() (net.Conn, error) {
	server, client := net.Pipe()
	if err := l.deliver(&addrConn{Conn: server, remote: l.addr}); err != nil {
		return nil, err
	}
	return client, nil
}

// deliver hands c to Accept.
func (l *pipeListener) deliver(c net.Conn) error {
	select {
	case l.conns <- c:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c *addrConn) RemoteAddr() net.Addr { return c.remote }
