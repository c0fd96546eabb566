// Package api holds the wire types of a node's built-in procedures: the
// params and results of sys.*, kv.* and rpc.allowed as they travel in
// JSON, and the lines of the protocol programs on the node's machine speak
// (Hello, Welcome, ProgramRequest, ProgramResponse). The node answers with them, the meshrpc CLI reads them, and a Go
// client may decode into them:
//
//	var info api.Info
//	err := c.Call(ctx, "home", "sys.info", nil, &info)
//
// It declares types only; docs/protocol.md describes the procedures.
package api
