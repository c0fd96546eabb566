package node

import (
	"context"

	"github.com/meshrpc/meshrpc/node/api"
)

// PeerStatus is sys.peers for tests in package node_test.
func (n *Node) PeerStatus(ctx context.Context) ([]api.PeerStatus, error) { return n.peerStatus(ctx) }
