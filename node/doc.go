// Package node is a meshrpc node: a tailnet presence (mesh), a JSON-RPC
// server (rpc) guarded by the caller's tailnet identity (rpc/authz), a
// durable key-value store (store) and the built-in procedures (sys.*, kv.*,
// rpc.discover). It is also the calling side: [Dial] returns a [Client] that
// calls peers by name, through a local `meshrpc serve` when one runs.
//
// A server in a few lines:
//
//	n, err := node.New(ctx, node.Config{Hostname: "home"})
//	rpc.Register(n.Registry(), "greet", "Greets someone.", greet)
//	err = n.Serve(ctx)
package node
