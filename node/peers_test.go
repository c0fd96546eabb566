package node_test

import (
	"context"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
)

// sys.peers lists the tailnet peers the node sees and tells the ones that
// answer as meshrpc nodes from the plain devices (a phone, a client).
func TestSysPeers(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	home := startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	startNode(t, dn, node.Config{Hostname: "cafe", InMemory: true})
	phone := dialAs(t, dn, "phone")

	// A caller that has given up gets its error, and leaves no verdict
	// on the peers for the callers after it.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := home.PeerStatus(gone); err == nil {
		t.Fatal("sys.peers for a caller that gave up: no error")
	}

	var peers []api.PeerStatus
	if err := phone.Call(context.Background(), "home", "sys.peers", nil, &peers); err != nil {
		t.Fatal(err)
	}
	seen := map[string]api.PeerStatus{}
	for _, p := range peers {
		seen[p.Name] = p
	}
	if p, ok := seen["cafe"]; !ok || !p.Online || !p.Meshrpc || p.Version == "" {
		t.Errorf("cafe: %+v (present %v), want online, meshrpc, with a version", p, ok)
	}
	if p, ok := seen["phone"]; !ok || p.Meshrpc {
		t.Errorf("phone: %+v (present %v), want present and not meshrpc", p, ok)
	}
	if _, ok := seen["home"]; ok {
		t.Errorf("home lists itself among its peers: %+v", peers)
	}
}
