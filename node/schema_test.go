package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
)

// TestEveryBuiltinResultMatchesItsPublishedSchema calls every procedure a
// node serves and validates each real result against the result schema
// rpc.discover publishes for it, with a JSON Schema validator. A procedure
// that rpc.discover lists and this test does not call fails it, so a new
// built-in gets a case here.
func TestEveryBuiltinResultMatchesItsPublishedSchema(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	cafe := dialAs(t, dn, "cafe")
	ctx := context.Background()
	schemas := publishedResultSchemas(t, ctx, cafe)

	calls := []struct {
		method string
		params any
	}{
		{"kv.put", []any{"k", map[string]any{"a": 1}}},
		{"kv.get", []any{"k"}},
		{"kv.get", []any{"absent"}},
		{"kv.inc", []any{"n"}},
		{"kv.cas", []any{"fresh", 0, "v"}},
		{"kv.put_all", []any{[]map[string]any{{"key": "b/1", "value": 1}, {"key": "b/2", "value": "two"}}}},
		{"kv.put_all", map[string]any{"entries": []any{}, "if_absent": true}},
		{"kv.list", []any{""}},
		{"kv.list", []any{"nothing/"}},
		{"kv.watch", map[string]any{"prefix": "", "after_rev": 0}},
		{"kv.watch", map[string]any{"prefix": "nothing/", "after_rev": -1, "wait": 0.01}},
		{"kv.delete", []any{"k"}},
		{"kv.delete", []any{"absent"}},
		{"sys.ping", nil},
		{"sys.uname", nil},
		{"sys.info", nil},
		{"sys.whoami", nil},
		{"sys.stats", nil},
		{"sys.peers", nil},
		{"rpc.discover", nil},
		{"rpc.allowed", nil},
		{"rpc.allowed", map[string]any{"why": true}},
	}
	called := map[string]bool{}
	for _, c := range calls {
		t.Run(c.method, func(t *testing.T) {
			called[c.method] = true
			var result json.RawMessage
			if err := cafe.Call(ctx, "home", c.method, c.params, &result); err != nil {
				t.Fatalf("%s %v: %v", c.method, c.params, err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(result))
			if err != nil {
				t.Fatal(err)
			}
			if err := schemas[c.method].Validate(inst); err != nil {
				t.Errorf("%s %v: the result does not match its published schema:\n%s\nresult: %s", c.method, c.params, err, result)
			}
		})
	}
	for method := range schemas {
		if !called[method] {
			t.Errorf("rpc.discover lists %s, which this test does not call", method)
		}
	}
}

// publishedResultSchemas compiles the result schema of every method that
// the node home publishes in rpc.discover.
func publishedResultSchemas(t *testing.T, ctx context.Context, c *node.Client) map[string]*jsonschema.Schema {
	t.Helper()
	var doc struct {
		Methods []struct {
			Name   string `json:"name"`
			Result struct {
				Schema json.RawMessage `json:"schema"`
			} `json:"result"`
		} `json:"methods"`
	}
	if err := c.Call(ctx, "home", "rpc.discover", nil, &doc); err != nil {
		t.Fatal(err)
	}
	compiler := jsonschema.NewCompiler()
	out := map[string]*jsonschema.Schema{}
	for _, m := range doc.Methods {
		s, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Result.Schema))
		if err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("mem://discover/%s.json", m.Name)
		if err := compiler.AddResource(url, s); err != nil {
			t.Fatal(err)
		}
		if out[m.Name], err = compiler.Compile(url); err != nil {
			t.Fatalf("%s: the published result schema does not compile: %v", m.Name, err)
		}
	}
	return out
}
