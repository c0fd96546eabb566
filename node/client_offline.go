package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/rpc"
)

// From its first call on, a Client follows the tailnet map and drops its
// connections to a peer as soon as the tailnet reports it offline. A
// connection to a node that died without closing it (a killed process, a
// laptop whose lid closed) would otherwise hold every call to it until the
// call's deadline; once dropped, the next call dials again, and the dial
// fails at once with a *mesh.OfflineError.

// watchOffline starts following the map, once.
func (c *Client) watchOffline() {
	c.watchOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		c.stopWatch, c.watchDone = cancel, make(chan struct{})
		go func() {
			defer close(c.watchDone)
			c.net.WatchPeers(ctx, func(peers []mesh.Peer) error {
				c.peersChanged(peers)
				return nil
			})
		}()
	})
}

// stopWatching stops following the map, for Close: it waits for the
// watcher to end, and a watcher is never started after it.
func (c *Client) stopWatching() {
	c.watchOnce.Do(func() {})
	if c.stopWatch != nil {
		c.stopWatch()
		<-c.watchDone
	}
}

// peersChanged notes which peers are offline, by every name and address
// they are called by (but a name an online peer also has), and drops the
// connections to them.
func (c *Client) peersChanged(peers []mesh.Peer) {
	offline := map[string]mesh.Peer{}
	for _, p := range peers {
		if p.Offline() {
			for _, k := range callNames(p) {
				offline[k] = p
			}
		}
	}
	for _, p := range peers {
		if !p.Offline() {
			for _, k := range callNames(p) {
				delete(offline, k)
			}
		}
	}
	var drop []*rpc.Client
	c.mu.Lock()
	c.offline = offline
	for addr, rc := range c.clients {
		host, _, _ := net.SplitHostPort(addr)
		if _, ok := offline[strings.ToLower(host)]; ok {
			drop = append(drop, rc)
			delete(c.clients, addr)
		}
	}
	c.mu.Unlock()
	for _, rc := range drop {
		go rc.CloseNow() // a WebSocket close would wait for an answer that will not come
	}
}

// callNames are the ways a peer is called: its names and addresses, in
// lower case.
func callNames(p mesh.Peer) []string {
	names := []string{strings.ToLower(p.Name), strings.ToLower(p.DNSName)}
	for _, a := range p.Addrs {
		names = append(names, a.String())
	}
	return names
}

// offlineError is the *mesh.OfflineError of a call to peer that failed
// without an answer while the tailnet reports peer offline, or nil.
func (c *Client) offlineError(peer string) *mesh.OfflineError {
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	c.mu.Lock()
	p, ok := c.offline[strings.ToLower(strings.TrimSuffix(host, "."))]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	oe := &mesh.OfflineError{Name: p.Name, LastSeen: p.LastSeen}
	if len(p.Addrs) > 0 {
		oe.Addr = p.Addrs[0]
	}
	return oe
}

// callError is the error of a call to peer. A call that failed because
// the tailnet reports peer offline says so, without the layers of the dial
// that found it out.
func (c *Client) callError(peer, method string, err error) error {
	var te *rpc.TransportError
	if !errors.As(err, &te) {
		return err
	}
	var oe *mesh.OfflineError
	if !errors.As(err, &oe) {
		if oe = c.offlineError(peer); oe == nil {
			return err
		}
	}
	return &offlineCallError{method: method, peer: peer, offline: oe, transport: te}
}

// offlineCallError is a call that failed because the tailnet reports its
// peer offline. It is both a *mesh.OfflineError (errors.Is mesh.ErrOffline)
// and the *rpc.TransportError it was (never sent, or sent with no reply),
// so that code handling transport failures (retries, rpc.CodeOf) sees what
// it saw before.
type offlineCallError struct {
	method, peer string
	offline      *mesh.OfflineError
	transport    *rpc.TransportError
}

func (e *offlineCallError) Error() string {
	if e.transport.Sent {
		return fmt.Sprintf("%s on %s: no reply: %v", e.method, e.peer, e.offline) // it may have run
	}
	return fmt.Sprintf("%s on %s: %v", e.method, e.peer, e.offline)
}

func (e *offlineCallError) Unwrap() []error { return []error{e.offline, e.transport} }
