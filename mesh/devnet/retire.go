package devnet

import (
	"fmt"
	"strings"

	"tailscale.com/tailcfg"
)

// retireNamesakes is the control server's HoldMapRequest hook. When a node
// asks for its map, every older node with the same name is retired: renamed
// "NAME-old-ID", so that the name means the node now asking. On Tailscale a
// second node of one name is renamed instead (the new one becomes
// "home-1"), but on a devnet a node that comes back under its name from a
// new state directory (a restart with a fresh --state-dir, a test's second
// run) is the one meant, and the old one is dead: keeping both made every
// call to the name ambiguous.
//
// An older node that is still running keeps working under its new name: it
// is renamed, not cut off (its key is not expired), so that two live
// processes that happen to share a name (one-shot commands, say) do not
// break each other. The rename writes back the control server's copy of
// the old node, so an endpoint update the old node sends at that very
// moment can be lost until its next one; a dead node sends none.
func (n *Net) retireNamesakes(req *tailcfg.MapRequest) (done func()) {
	self := n.control.Node(req.NodeKey)
	if self == nil {
		return nil
	}
	name := shortName(self.Name)
	n.retireMu.Lock()
	defer n.retireMu.Unlock()
	for _, old := range n.control.AllNodes() {
		if old.ID >= self.ID || !strings.EqualFold(shortName(old.Name), name) {
			continue
		}
		old.Name = fmt.Sprintf("%s-old-%d.%s.", name, old.ID, MagicDNSDomain)
		n.control.UpdateNode(old)
		n.control.Logf("devnet: %s rejoined as node %d: node %d renamed %s", name, self.ID, old.ID, old.Name)
	}
	return nil
}

// shortName is the first label of a MagicDNS name.
func shortName(fqdn string) string {
	name, _, _ := strings.Cut(fqdn, ".")
	return name
}
