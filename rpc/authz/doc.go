// Package authz decides who may call what on a meshrpc node, from two
// sources: local rules given to the node (`--allow PRINCIPAL[=GLOB,...]`,
// parsed by ParseRule) and tailnet grants of the app capability
// github.com/meshrpc/meshrpc/cap/rpc with values {"methods": [globs]}.
// A call is allowed when a rule or a grant allows it, and denied otherwise;
// with no rules the default is "self" (this node's own user, untagged
// devices). Every decision is made by Policy.Decide and can be explained,
// and a denial says who was denied what, where, and how to allow it. A
// key-scoped rule or grant ("kv.*@shared/*") allows only procedures that
// take a key, on the keys it names.
//
// Method globs are deliberately tiny: '*' matches any run of characters,
// dots included, and every other character matches itself (see Glob). There
// are no character classes or escapes, so a rule reads the same to a person
// as to the matcher.
//
// It decides only from the rpc.Caller the server learned from the tailnet
// (WhoIs), never from anything the caller sent. It does no I/O and keeps no
// state: it is not where identities are looked up (rpc and mesh do that) nor
// where calls are logged. Policy.Authorize plugs into the rpc server's
// Config.Authorize.
package authz
