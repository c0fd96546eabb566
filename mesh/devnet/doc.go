// Package devnet runs a whole tailnet inside one process, bound to 127.0.0.1:
// Tailscale's own coordination test server (tstest/integration/testcontrol),
// a DERP relay (derp/derpserver) and a STUN responder.
//
// A node that joins under a name an older node has (a restart with a new
// state directory) takes the name: the older node is renamed NAME-old-ID, so
// a name always means one node.
//
// A node is online while it holds its map poll open, as on Tailscale's
// control server: a node whose process exits (or that Closes) is shown
// offline to its peers a couple of seconds later, with when it was last
// seen, and online again when it comes back.
//
// It is what the tests, `meshrpc demo` and `meshrpc devnet` join; it is not a
// control server for real use (no persistence, no ACLs beyond app-capability
// grants, every node trusted). Nodes joining it must not advertise or probe
// non-loopback endpoints: call [mesh.UseLoopbackOnly] (mesh.Join does it by
// itself when the control URL is a loopback address).
//
// It must not import the testing package: the meshrpc binary ships it.
package devnet
