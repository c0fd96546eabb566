package mesh

import (
	"sync"

	"tailscale.com/envknob"
	"tailscale.com/net/netns"
)

var loopbackOnce sync.Once

// UseLoopbackOnly makes every node of this process keep to 127.0.0.1, for a
// local tailnet (mesh/devnet): nodes advertise and probe no non-loopback
// endpoint, believe the network is up even in a namespace with only
// loopback, and never upload logs to Tailscale. It is process-wide and
// cannot be undone; Join calls it when the control URL is a loopback address.
func UseLoopbackOnly() {
	loopbackOnce.Do(func() {
		envknob.Setenv("TS_DEBUG_OMIT_LOCAL_ADDRS", "true")
		envknob.Setenv("TS_ASSUME_NETWORK_UP_FOR_TEST", "true")
		envknob.SetNoLogsNoSupport()
		// Binding sockets to the default interface makes no sense when
		// every peer is on loopback, and fails where there is no default route.
		netns.SetEnabled(false)
	})
}
