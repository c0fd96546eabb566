package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Handler runs one procedure. params is the request's params member as sent
// (nil when absent); the result is marshalled to JSON.
type Handler interface {
	ServeRPC(ctx context.Context, params json.RawMessage) (any, error)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, params json.RawMessage) (any, error)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, params json.RawMessage) (any, error) {
	return f(ctx, params)
}

// Param is a declared parameter of a procedure.
type Param struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Schema   Schema `json:"schema"`
}

// Procedure is a named procedure and what callers need to know to call it.
type Procedure struct {
	Name    string
	Summary string // one line
	Params  []Param
	Result  Schema
	// ReadOnly procedures change nothing; they are safe to retry.
	ReadOnly bool
	// AnswersRetries: the procedure answers a retry itself, from what it
	// keeps with its effect under RequestKeyFrom (the kv writes do, in the
	// same transaction, so across restarts too); the server's memory of
	// outcomes leaves it alone. Each call thus has one exactly-once
	// mechanism.
	AnswersRetries bool
	// Keys says what the procedure's key param names, if any; Register
	// sets it from the params' rpc:"key" or rpc:"prefix" tag.
	Keys KeyUse
	// KeyParam names the param that holds the key, for a procedure with a
	// plain Handler that declares Keys (a program's, say): the server
	// authorizes the call on it before the handler runs, and the handler
	// gets its params by name with the granted key in that param.
	KeyParam string
	// Timeout bounds a call when the caller sets no shorter deadline; zero
	// means the server's DefaultTimeout. A backup script may need minutes.
	Timeout time.Duration
	// HonorsDeadline: the handler returns as soon as its context ends (a
	// program's procedure, which only waits for the program's answer, its
	// context or the program's leaving). The server then runs it on the
	// call's own goroutine rather than on one of its own, sparing each
	// call a hand-over between goroutines.
	HonorsDeadline bool
	// Provider names who serves the procedure when it is not the node's
	// own code: a program on the node's machine ("program seed (pid
	// 4242)"). rpc.discover publishes it (package openrpc).
	Provider string
	Handler  Handler

	bind func(json.RawMessage) (boundCall, error) // set by Register
}

// check returns why p cannot be registered, or nil.
func (p *Procedure) check() error {
	switch {
	case p.Name == "" || p.Handler == nil:
		return fmt.Errorf("rpc: a procedure without name or handler")
	case p.Keys == EachKey && p.bind == nil:
		return fmt.Errorf("procedure %q: only a procedure made by Register may name several keys", p.Name)
	case p.Keys != NoKey && p.bind == nil && !slices.ContainsFunc(p.Params, func(prm Param) bool { return prm.Name == p.KeyParam }):
		return fmt.Errorf("procedure %q: declares keys but names no param of its own as KeyParam", p.Name)
	}
	return CheckMethodName(p.Name)
}

// start binds a call's params to p.
func (p *Procedure) start(params json.RawMessage) (boundCall, error) {
	switch {
	case p.bind != nil:
		return p.bind(params)
	case p.Keys != NoKey:
		return bindKeyParam(p, params)
	}
	return rawCall{p.Handler, params}, nil
}

// Registry routes method names to procedures. It is safe for concurrent use;
// registering while serving is allowed (commands from a reloaded config).
type Registry struct {
	mu    sync.RWMutex
	procs map[string]*Procedure
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{procs: map[string]*Procedure{}}
}

// Handle registers p. It panics when p has no name or handler, when its
// name is not a method name (CheckMethodName), or when the name is taken:
// two procedures of one name are a programming error. Names beginning with
// "rpc." are for introspection (rpc.discover, rpc.allowed, which package
// node registers); Swap, which takes procedures from outside the program,
// refuses them.
func (r *Registry) Handle(p *Procedure) {
	if err := p.check(); err != nil {
		panic("rpc: Handle: " + err.Error())
	}
	if p.Result == nil {
		p.Result = Schema{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.procs[p.Name]; dup {
		panic(fmt.Sprintf("rpc: method %q registered twice", p.Name))
	}
	r.procs[p.Name] = p
}

// Swap removes the procedures named in old and registers those in add, as
// one step: a call sees either the old set or the new, never neither. Calls
// already running finish with the procedure they started with. It fails,
// changing nothing, when a name in add is taken by a procedure not in old,
// or is reserved.
func (r *Registry) Swap(old []string, add []*Procedure) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	leaving := make(map[string]bool, len(old))
	for _, name := range old {
		leaving[name] = true
	}
	seen := make(map[string]bool, len(add))
	for _, p := range add {
		if strings.HasPrefix(p.Name, "rpc.") {
			return fmt.Errorf("procedure %q: names beginning with rpc. are reserved", p.Name)
		}
		if err := p.check(); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("procedure %q: declared twice", p.Name)
		}
		if _, taken := r.procs[p.Name]; taken && !leaving[p.Name] {
			return fmt.Errorf("procedure %q: the name is taken by a procedure of this node", p.Name)
		}
		seen[p.Name] = true
	}
	for name := range leaving {
		delete(r.procs, name)
	}
	for _, p := range add {
		if p.Result == nil {
			p.Result = Schema{}
		}
		r.procs[p.Name] = p
	}
	return nil
}

// Remove unregisters name, reporting whether it was there.
func (r *Registry) Remove(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.procs[name]
	delete(r.procs, name)
	return ok
}

// Lookup returns the procedure registered as name.
func (r *Registry) Lookup(name string) (*Procedure, bool) {
	r.mu.RLock()
	p, ok := r.procs[name]
	r.mu.RUnlock()
	return p, ok
}

// Procedures returns every registered procedure, sorted by name.
func (r *Registry) Procedures() []*Procedure {
	r.mu.RLock()
	ps := make([]*Procedure, 0, len(r.procs))
	for _, p := range r.procs {
		ps = append(ps, p)
	}
	r.mu.RUnlock()
	slices.SortFunc(ps, func(a, b *Procedure) int { return strings.Compare(a.Name, b.Name) })
	return ps
}
