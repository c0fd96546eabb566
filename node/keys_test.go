package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/store"
)

// Several people share one node: each has a personal space (~/) with no
// rule to write, and a key-scoped rule gives one device a corner of the
// store, for the methods it names.
func TestPersonalSpacesAndKeyScopedRules(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true,
		Allow: []string{"self", "node:phone=kv.get@shared/*,kv.list@shared/*,kv.put@shared/inbox/*"}})
	phone, laptop := dialAs(t, dn, "phone"), dialAs(t, dn, "laptop")
	ctx := context.Background()
	call := func(c *node.Client, method string, params, res any) error {
		return c.Call(ctx, "home", method, params, res)
	}
	denied := func(err error) bool { return rpc.CodeOf(err) == rpc.CodePermissionDenied }

	// Personal spaces: the same "~/notes" is two different keys.
	for _, c := range []*node.Client{phone, laptop} {
		if err := call(c, "kv.put", []any{"~/notes", "mine"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var mine []store.Entry
	if err := call(laptop, "kv.list", []any{"~/"}, &mine); err != nil || len(mine) != 1 || !strings.HasPrefix(mine[0].Key, "~") {
		t.Fatalf("laptop's personal space: %+v %v", mine, err)
	}
	laptopKey := mine[0].Key // "~LOGIN/notes"
	var v string
	if err := call(laptop, "kv.get", []any{laptopKey}, &v); err != nil || v != "mine" {
		t.Fatalf("laptop's key by its stored name: %q %v", v, err)
	}
	if err := call(phone, "kv.get", []any{laptopKey}, nil); !denied(err) {
		t.Fatalf("phone reading laptop's personal key: %v", err)
	}
	if err := call(phone, "kv.inc", []any{laptopKey}, nil); !denied(err) {
		t.Fatalf("phone writing laptop's personal key: %v", err)
	}

	// The phone's corner: shared/* to read, shared/inbox/* to write.
	if err := call(phone, "kv.put", []any{"shared/inbox/1", "hello"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := call(phone, "kv.get", []any{"shared/inbox/1"}, &v); err != nil || v != "hello" {
		t.Fatalf("get in the corner: %q %v", v, err)
	}
	if err := call(phone, "kv.put", []any{"shared/motd", "x"}, nil); !denied(err) || !strings.Contains(err.Error(), "shared/inbox/*") {
		t.Fatalf("put outside its narrower corner: %v", err)
	}
	if err := call(phone, "kv.get", []any{"private/x"}, nil); !denied(err) {
		t.Fatalf("get outside the corner: %v", err)
	}
	if err := call(phone, "kv.list", []any{""}, nil); !denied(err) {
		t.Fatalf("list of the whole store: %v", err)
	}
	var shared []store.Entry
	if err := call(phone, "kv.list", []any{"shared/"}, &shared); err != nil || len(shared) != 1 {
		t.Fatalf("list of the corner: %+v %v", shared, err)
	}
	if err := call(phone, "kv.delete", []any{"shared/inbox/1"}, nil); !denied(err) {
		t.Fatalf("a method the rule does not name: %v", err)
	}

	// rpc.allowed says so.
	var allowed []node.Allowed
	if err := call(laptop, rpc.AllowedMethod, nil, &allowed); err != nil {
		t.Fatal(err)
	}
	for _, a := range allowed {
		if a.Name == "kv.put" && !strings.Contains(a.By, "personal space") {
			t.Errorf("laptop's kv.put: %+v", a)
		}
	}
	if err := call(phone, rpc.AllowedMethod, nil, &allowed); err != nil {
		t.Fatal(err)
	}
	for _, a := range allowed {
		if a.Name == "kv.get" && !strings.Contains(a.By, "keys: shared/*") {
			t.Errorf("phone's kv.get: %+v", a)
		}
	}
}
