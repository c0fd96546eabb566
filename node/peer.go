package node

import (
	"context"
	"fmt"
)

// Peer is one node to call by name: the short way for scripts and small
// programs. Client.Call does the same with params and results of any shape.
type Peer struct {
	c    *Client
	name string
	own  bool // Close closes c
}

// Connect prepares calls to the node named name ("home"), reaching the
// tailnet as Dial does with a zero ClientConfig: through a `meshrpc serve`
// on this machine, else tailscaled, else a tailnet node of its own, with
// MESHRPC_HOSTNAME, MESHRPC_STATE_DIR and MESHRPC_CONTROL_URL from the
// environment.
func Connect(ctx context.Context, name string) (*Peer, error) {
	c, err := Dial(ctx, ClientConfig{})
	if err != nil {
		return nil, err
	}
	return &Peer{c: c, name: name, own: true}, nil
}

// MustConnect is Connect for scripts: it panics when it cannot connect.
func MustConnect(name string) *Peer {
	p, err := Connect(context.Background(), name)
	if err != nil {
		panic(fmt.Sprintf("node: connect to %s: %v", name, err))
	}
	return p
}

// Peer returns the node named name, to call through c.
func (c *Client) Peer(name string) *Peer { return &Peer{c: c, name: name} }

// Name is the name the peer is called by.
func (p *Peer) Name() string { return p.name }

// Call calls method with args as its params by position and returns the
// result as encoding/json decodes it into an any (numbers are float64);
// CallAs decodes into a type of your choice.
func (p *Peer) Call(ctx context.Context, method string, args ...any) (any, error) {
	return CallAs[any](ctx, p, method, args...)
}

// MustCall is Call for scripts: it panics when the call fails.
func (p *Peer) MustCall(method string, args ...any) any {
	v, err := p.Call(context.Background(), method, args...)
	if err != nil {
		panic(fmt.Sprintf("node: %s on %s: %v", method, p.name, err))
	}
	return v
}

// CallAs calls method on p with args as its params by position and decodes
// the result into a T:
//
//	n, err := node.CallAs[int](ctx, home, "kv.inc", "visits")
func CallAs[T any](ctx context.Context, p *Peer, method string, args ...any) (T, error) {
	var params any
	if len(args) > 0 {
		params = args
	}
	var result T
	err := p.c.Call(ctx, p.name, method, params, &result)
	return result, err
}

// Close releases what Connect made; a Peer from Client.Peer leaves its
// client to its owner.
func (p *Peer) Close() error {
	if p.own {
		return p.c.Close()
	}
	return nil
}
