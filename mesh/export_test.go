package mesh

// WireGuardPort is the node's WireGuard UDP port, for tests in mesh_test.
func (n *Node) WireGuardPort() uint16 { return n.wireGuardPort() }

var AppCaps = appCaps
