package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	Handler  Handler
}

// Registry routes method names to procedures. It is safe for concurrent use;
// registering while serving is allowed (commands from a reloaded config).
type Registry struct {
	mu    sync.RWMutex
	procs map[string]*Procedure
}

// NewRegistry returns a registry holding only the built-in rpc.discover.
func NewRegistry() *Registry {
	r := &Registry{procs: map[string]*Procedure{}}
	registerDiscover(r)
	return r
}

// Handle registers p. It panics when p has no name or handler, or when the
// name is taken: two procedures of one name are a programming error.
func (r *Registry) Handle(p *Procedure) {
	if p.Name == "" || p.Handler == nil {
		panic("rpc: Handle of a procedure without name or handler")
	}
	if strings.HasPrefix(p.Name, "rpc.") && p.Name != discoverMethod {
		panic(fmt.Sprintf("rpc: method %q: names beginning with rpc. are reserved", p.Name))
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
