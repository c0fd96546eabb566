package node

import "context"

// PeerStatus is sys.peers for tests in package node_test.
func (n *Node) PeerStatus(ctx context.Context) ([]PeerStatus, error) { return n.peerStatus(ctx) }
