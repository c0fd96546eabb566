// Package mesh joins a tailnet with tailscale.com/tsnet and offers what the
// rest of meshrpc needs of it: listen on the tailnet only, dial a peer by name
// or address, list the peers, and learn who is at the other end of a
// connection (WhoIs).
//
// It knows nothing of RPC or storage. A [Node] is one tsnet server with its
// state directory; its chatter goes to a log file there, never to stdout.
package mesh
