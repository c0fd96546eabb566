// Package openrpc describes a registry's procedures as an OpenRPC document
// (https://spec.open-rpc.org) and serves it as rpc.discover. Package node
// registers it on every node; a client decodes rpc.discover's result into
// a Document.
package openrpc

import (
	"context"
	"encoding/json"

	"github.com/meshrpc/meshrpc/rpc"
)

// Method is the name the document is served under.
const Method = "rpc.discover"

// Version is the OpenRPC specification version the document follows.
const Version = "1.3.2"

// Document is an OpenRPC document describing a registry.
type Document struct {
	OpenRPC string       `json:"openrpc"`
	Info    Info         `json:"info"`
	Methods []Descriptor `json:"methods"`
}

// Info is the OpenRPC info object.
type Info struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

// Descriptor is one procedure in a Document (OpenRPC's method object), with
// meshrpc's extensions: x-read-only for procedures that change nothing, and
// x-provider for those a program on the node's machine provides.
type Descriptor struct {
	Name     string            `json:"name"`
	Summary  string            `json:"summary,omitempty"`
	Params   []rpc.Param       `json:"params"`
	Result   ContentDescriptor `json:"result"`
	ReadOnly bool              `json:"x-read-only,omitempty"`
	Provider string            `json:"x-provider,omitempty"`
}

// ContentDescriptor is an OpenRPC content descriptor.
type ContentDescriptor struct {
	Name   string     `json:"name"`
	Schema rpc.Schema `json:"schema"`
}

// Describe describes every procedure of r, rpc.discover included once it is
// registered.
func Describe(r *rpc.Registry, title string) Document {
	doc := Document{OpenRPC: Version, Info: Info{Title: title, Version: rpc.Version}, Methods: []Descriptor{}}
	for _, p := range r.Procedures() {
		params := p.Params
		if params == nil {
			params = []rpc.Param{}
		}
		doc.Methods = append(doc.Methods, Descriptor{
			Name:     p.Name,
			Summary:  p.Summary,
			Params:   params,
			Result:   ContentDescriptor{Name: "result", Schema: p.Result},
			ReadOnly: p.ReadOnly,
			Provider: p.Provider,
		})
	}
	return doc
}

// Register registers rpc.discover on r: the document of r as it is at each
// call (procedures come and go), titled title.
func Register(r *rpc.Registry, title string) {
	r.Handle(&rpc.Procedure{
		Name:     Method,
		Summary:  "Describes every procedure of this node as an OpenRPC document.",
		Params:   []rpc.Param{},
		Result:   rpc.Schema{"type": "object", "description": "an OpenRPC document", "required": []string{"openrpc", "info", "methods"}},
		ReadOnly: true,
		Handler: rpc.HandlerFunc(func(context.Context, json.RawMessage) (any, error) {
			return Describe(r, title), nil
		}),
	})
}
