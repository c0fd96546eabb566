// Package tsdebug hands meshrpc's own tests what package mesh keeps to
// itself: a node's Tailscale LocalAPI client, to check what the control
// server sent it (a real tailnet's DERP map, say). It is not for users:
// mesh's exported API is what a program needs.
package tsdebug

import "tailscale.com/client/local"

// LocalClient returns the LocalAPI client of node, a *mesh.Node. Package
// mesh sets it.
var LocalClient func(node any) *local.Client
