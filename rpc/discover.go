package rpc

import (
	"context"
	"encoding/json"
)

const discoverMethod = "rpc.discover"

// AllowedMethod is the introspection procedure that says which procedures
// the caller may call, and why. The rpc package reserves its name; the
// owner of the authorization (package node) registers it.
const AllowedMethod = "rpc.allowed"

// OpenRPCVersion is the OpenRPC specification version rpc.discover follows.
const OpenRPCVersion = "1.3.2"

// Version is reported in rpc.discover's info. Builds may set it with
// -ldflags "-X github.com/meshrpc/meshrpc/rpc.Version=v1.2.3".
var Version = "devel"

// Document is an OpenRPC document describing a registry.
type Document struct {
	OpenRPC string   `json:"openrpc"`
	Info    Info     `json:"info"`
	Methods []Method `json:"methods"`
}

// Info is the OpenRPC info object.
type Info struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

// Method is one procedure in an OpenRPC document.
type Method struct {
	Name     string        `json:"name"`
	Summary  string        `json:"summary,omitempty"`
	Params   []Param       `json:"params"`
	Result   ContentDesc   `json:"result"`
	ReadOnly bool          `json:"x-read-only,omitempty"`
	Provider string        `json:"x-provider,omitempty"`
	Errors   []ErrorObject `json:"errors,omitempty"`
}

// ContentDesc is an OpenRPC content descriptor.
type ContentDesc struct {
	Name   string `json:"name"`
	Schema Schema `json:"schema"`
}

// ErrorObject is an OpenRPC error object.
type ErrorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Discover describes every procedure of r as an OpenRPC document.
func Discover(r *Registry, title string) Document {
	doc := Document{OpenRPC: OpenRPCVersion, Info: Info{Title: title, Version: Version}}
	for _, p := range r.Procedures() {
		params := p.Params
		if params == nil {
			params = []Param{}
		}
		doc.Methods = append(doc.Methods, Method{
			Name:     p.Name,
			Summary:  p.Summary,
			Params:   params,
			Result:   ContentDesc{Name: "result", Schema: p.Result},
			ReadOnly: p.ReadOnly,
			Provider: p.Provider,
		})
	}
	return doc
}

func registerDiscover(r *Registry) {
	p := &Procedure{
		Name:     discoverMethod,
		Summary:  "Describes every procedure of this node as an OpenRPC document.",
		Params:   []Param{},
		Result:   Schema{"type": "object", "description": "an OpenRPC document", "required": []string{"openrpc", "info", "methods"}},
		ReadOnly: true,
		Handler: HandlerFunc(func(ctx context.Context, _ json.RawMessage) (any, error) {
			title := "meshrpc"
			if name := nodeNameFrom(ctx); name != "" {
				title = "meshrpc on " + name
			}
			return Discover(r, title), nil
		}),
	}
	r.mu.Lock()
	r.procs[p.Name] = p
	r.mu.Unlock()
}
