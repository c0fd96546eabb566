package devnet

import (
	"fmt"
	"slices"
	"strings"

	"tailscale.com/tailcfg"
)

// retireNamesakes runs for every map request (see holdMapRequest). When a
// node asks for its map, every older node with the same name is retired: renamed
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
// break each other.
func (n *Net) retireNamesakes(req *tailcfg.MapRequest) {
	self := n.control.Node(req.NodeKey)
	if self == nil {
		return
	}
	name := shortName(self.Name)
	namesake := func(old *tailcfg.Node) bool {
		return old.ID < self.ID && strings.EqualFold(shortName(old.Name), name)
	}
	if !slices.ContainsFunc(n.control.AllNodes(), namesake) {
		return // the common case: no write, so no wait for nodesMu
	}
	n.nodesMu.Lock()
	defer n.nodesMu.Unlock()
	for _, old := range n.control.AllNodes() {
		if !namesake(old) {
			continue
		}
		old.Name = fmt.Sprintf("%s-old-%d.%s.", name, old.ID, MagicDNSDomain)
		n.control.UpdateNode(old)
		n.control.Logf("devnet: %s rejoined as node %d: node %d renamed %s", name, self.ID, old.ID, old.Name)
	}
}

// shortName is the first label of a MagicDNS name.
func shortName(fqdn string) string {
	name, _, _ := strings.Cut(fqdn, ".")
	return name
}
