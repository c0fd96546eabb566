// Package node is a meshrpc node: a tailnet presence (mesh), a JSON-RPC
// server (rpc) guarded by the caller's tailnet identity (rpc/authz), a
// durable key-value store (store) and the built-in procedures (sys.*, kv.*,
// rpc.discover). It is also the calling side: [Dial] returns a [Client] that
// calls peers by name, through a local `meshrpc serve` when one runs.
//
// Plain functions on the tailnet, one call at a time, in one statement:
//
//	obj := map[string]any{}
//	log.Fatal(node.ServeFuncs(ctx, node.Config{Hostname: "home"}, node.Funcs{
//		"get": func(k string) any { return obj[k] },
//		"put": func(k string, v any) { obj[k] = v },
//	}))
//
// and from another machine:
//
//	home := node.MustConnect("home")
//	v, err := home.Call(ctx, "get", "a")
//
// Typed procedures with named params, run concurrently:
//
//	n, err := node.New(ctx, node.Config{Hostname: "home"})
//	rpc.Register(n.Registry(), "greet", "Greets someone.", greet)
//	err = n.Serve(ctx)
//
// A program that should not be a tailnet node of its own provides its
// procedures through the `meshrpc serve` on its machine: [Provide].
//
// Every function reads MESHRPC_HOSTNAME, MESHRPC_STATE_DIR and
// MESHRPC_CONTROL_URL for the fields left empty, as the CLI does.
package node
