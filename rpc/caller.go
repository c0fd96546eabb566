package rpc

import (
	"context"
	"encoding/json"
	"slices"
)

// Caller is the tailnet identity of whoever made a call, as the serving node
// learned it from the tailnet (WhoIs on the connection's remote address). It is
// never taken from anything the caller sent.
type Caller struct {
	// Node is the caller's MagicDNS short name ("laptop").
	Node string `json:"node"`
	// NodeFQDN is the caller's full MagicDNS name without the trailing dot
	// ("laptop.tail1234.ts.net"), empty when the tailnet has none.
	NodeFQDN string `json:"node_fqdn,omitempty"`
	// Login is the user's login exactly as WhoIs reports it
	// ("alice@example.com"); tagged nodes report the tailnet's
	// tagged-devices user.
	Login string `json:"login"`
	// Tags are the node's ACL tags, each with its "tag:" prefix.
	Tags []string `json:"tags,omitempty"`
	// Addr is the caller's tailnet address.
	Addr string `json:"addr,omitempty"`
	// Caps holds the app capabilities the tailnet grants the caller on this
	// node, keyed by capability name, each a list of JSON values.
	Caps map[string][]json.RawMessage `json:"caps,omitempty"`
}

// HasTag reports whether the caller's node carries tag (written "tag:NAME").
func (c Caller) HasTag(tag string) bool { return slices.Contains(c.Tags, tag) }

// Name is the most specific human name of the caller: its node, else its login.
func (c Caller) Name() string {
	if c.Node != "" {
		return c.Node
	}
	return c.Login
}

type callerKey struct{}

// WithCaller returns a copy of ctx that carries c. The server does this for
// every call; tests and in-process callers may do it too.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of the call ctx belongs to. ok is false outside
// a call.
func CallerFrom(ctx context.Context) (c Caller, ok bool) {
	c, ok = ctx.Value(callerKey{}).(Caller)
	return c, ok
}
