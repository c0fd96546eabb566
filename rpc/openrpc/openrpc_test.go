package openrpc_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/openrpc"
)

type incParams struct {
	Key   string `json:"key"`
	Delta int64  `json:"delta,omitempty"`
}

func TestDocumentDescribesEveryProcedure(t *testing.T) {
	r := rpc.NewRegistry()
	openrpc.Register(r, "meshrpc on home")
	rpc.Register(r, "inc", "Adds delta to key.", func(ctx context.Context, p incParams) (int64, error) { return 0, nil })
	r.Handle(&rpc.Procedure{Name: "get", Provider: "program seed (pid 7)", ReadOnly: true,
		Handler: rpc.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return nil, nil })})

	p, _ := r.Lookup(openrpc.Method)
	out, err := p.Handler.ServeRPC(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := out.(openrpc.Document)
	if doc.OpenRPC != openrpc.Version || doc.Info.Title != "meshrpc on home" || len(doc.Methods) != 3 {
		t.Fatalf("document: %+v", doc)
	}
	byName := map[string]openrpc.Descriptor{}
	for _, m := range doc.Methods {
		byName[m.Name] = m
	}
	inc := byName["inc"]
	if len(inc.Params) != 2 || inc.Params[0].Name != "key" || !inc.Params[0].Required || inc.Params[1].Name != "delta" || inc.Params[1].Required || inc.Result.Schema["type"] != "integer" {
		t.Fatalf("inc: %+v", inc)
	}
	get := byName["get"]
	if get.Params == nil || !get.ReadOnly || get.Provider != "program seed (pid 7)" {
		t.Fatalf("get: %+v", get)
	}
	b, _ := json.Marshal(get)
	if want := `{"name":"get","params":[],"result":{"name":"result","schema":{}},"x-read-only":true,"x-provider":"program seed (pid 7)"}`; string(b) != want {
		t.Fatalf("get encodes as\n%s\nwant\n%s", b, want)
	}
}
