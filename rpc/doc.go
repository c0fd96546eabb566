// Package rpc is meshrpc's JSON-RPC 2.0 layer: a [Registry] of named, typed
// procedures, a [Server] that serves them over HTTP (POST /rpc, HTTP/1.1 or
// cleartext HTTP/2) and a WebSocket stream on any net.Listener, and a [Client].
//
// It does not know about tailnets. The server learns who is calling through
// an injected Identify function (node passes tsnet's WhoIs) and decides
// every call in one place, before its handler runs, by asking an injected
// Authorize function (rpc/authz) about an [Access]: the method, and the key
// its params name for a procedure that declares one. Handlers never
// authorize; they read the caller with [CallerFrom] and a granted key with
// [GrantFrom]. The client dials through an injected
// Dial function. So the package is tested on plain loopback listeners as well
// as over a real tailnet.
//
// The wire protocol is documented in docs/protocol.md.
package rpc
