// Package authz decides who may call what on a meshrpc node, from two
// sources: local rules given to the node (`--allow PRINCIPAL[=GLOB,...]`) and
// tailnet grants of the app capability github.com/meshrpc/meshrpc/cap/rpc.
// A call is allowed when either allows it; every decision can be explained.
//
// It decides only from the rpc.Caller the server learned from the tailnet
// (WhoIs), never from anything the caller sent. It does no I/O.
package authz
