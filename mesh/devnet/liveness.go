package devnet

import (
	"time"

	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
)

// offlineGrace is how long a node may be without a map poll before its
// peers are told it is offline: a node that restarts its poll (it does
// after some network changes) is not offline for that moment.
const offlineGrace = 2 * time.Second

// A node is online while it holds a streaming map poll, as on Tailscale's
// own control server: a process that exits (or Closes its node) ends its
// poll, and offlineGrace later its peers see it offline, with when it was
// last seen; when it polls again, online. Tailscale's test control server
// has no such tracking (its AllOnline marks every node online, the dead
// ones too), so the devnet keeps it here, in the control server's copy of
// each node (tailcfg.Node's Online and LastSeen, which it sends to the
// peers as they are).

// holdMapRequest is the control server's HoldMapRequest hook: it retires a
// rejoining node's namesakes and tracks which nodes are online.
//
// Writing a node back (UpdateNode) replaces the control server's whole copy
// of it, so it must not race with a map request that updates that copy
// (endpoints, hostinfo: every request but a streaming poll, which is
// read-only from capability version 68, what tsnet speaks). Such requests hold nodesMu for reading until the control
// server has applied them; the writes here take it for writing.
func (n *Net) holdMapRequest(req *tailcfg.MapRequest) (done func()) {
	n.retireNamesakes(req)
	if !req.Stream || req.ReadOnly {
		n.firstSeen(req.NodeKey)
		n.nodesMu.RLock()
		return n.nodesMu.RUnlock
	}
	n.pollStarted(req.NodeKey)
	return func() { n.pollEnded(req.NodeKey) }
}

func (n *Net) pollStarted(k key.NodePublic) {
	n.nodesMu.Lock()
	defer n.nodesMu.Unlock()
	if n.polls == nil {
		n.polls = map[key.NodePublic]int{}
		n.goingOffline = map[key.NodePublic]*time.Timer{}
	}
	n.polls[k]++
	if t := n.goingOffline[k]; t != nil {
		t.Stop()
		delete(n.goingOffline, k)
	}
	n.setOnlineLocked(k, true, time.Time{})
}

// firstSeen marks a node online when it has never been marked either way:
// its first map request may be an update (its endpoints) before its poll,
// and the peers that the update tells of the node must not see it with
// no online state (so offline) first.
func (n *Net) firstSeen(k key.NodePublic) {
	if node := n.control.Node(k); node == nil || node.Online != nil {
		return
	}
	n.nodesMu.Lock()
	defer n.nodesMu.Unlock()
	if node := n.control.Node(k); node != nil && node.Online == nil {
		n.setOnlineLocked(k, true, time.Time{})
	}
}

func (n *Net) pollEnded(k key.NodePublic) {
	n.nodesMu.Lock()
	defer n.nodesMu.Unlock()
	if n.polls[k]--; n.polls[k] > 0 || n.closed {
		return
	}
	delete(n.polls, k)
	seen := time.Now()
	n.goingOffline[k] = time.AfterFunc(offlineGrace, func() {
		n.nodesMu.Lock()
		defer n.nodesMu.Unlock()
		if n.polls[k] == 0 && !n.closed {
			delete(n.goingOffline, k)
			n.setOnlineLocked(k, false, seen)
		}
	})
}

// setOnlineLocked marks the node of key k online, or offline since seen,
// and sends the change to every node. nodesMu must be held for writing.
func (n *Net) setOnlineLocked(k key.NodePublic, online bool, seen time.Time) {
	node := n.control.Node(k)
	if node == nil || (node.Online != nil && *node.Online == online) {
		return
	}
	node.Online = &online
	if !online {
		node.LastSeen = &seen
	}
	n.control.UpdateNode(node)
}

// stopLiveness stops the pending offline marks, for Close.
func (n *Net) stopLiveness() {
	n.nodesMu.Lock()
	defer n.nodesMu.Unlock()
	n.closed = true
	for _, t := range n.goingOffline {
		t.Stop()
	}
}
