package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/node/command"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
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
	var allowed []api.Allowed
	if err := call(laptop, authz.AllowedMethod, nil, &allowed); err != nil {
		t.Fatal(err)
	}
	for _, a := range allowed {
		if a.Name == "kv.put" && !strings.Contains(a.By, "personal space") {
			t.Errorf("laptop's kv.put: %+v", a)
		}
	}
	if err := call(phone, authz.AllowedMethod, nil, &allowed); err != nil {
		t.Fatal(err)
	}
	for _, a := range allowed {
		if a.Name == "kv.get" && (len(a.Keys) != 1 || a.Keys[0] != "shared/*") {
			t.Errorf("phone's kv.get: %+v", a)
		}
	}
}

// A key-scoped rule or grant gives a corner of the store and nothing else:
// the phone allowed *@shared/* may call no procedure that takes no key
// (sys.stats, sys.peers, rpc.discover, an exposed command), and rpc.allowed,
// which answers from the same decision, does not list them.
func TestKeyScopeAllowsNoProcedureWithoutKeys(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true,
		Allow:    []string{"self", "node:phone=*@shared/*"},
		Commands: []command.Spec{{Name: "uptime", Argv: []string{"uptime"}}}})
	phone, tablet := dialAs(t, dn, "phone"), dialAs(t, dn, "tablet")
	ctx := context.Background()
	if err := dn.Grant(authz.CapName, map[string]any{"methods": []string{"*"}, "keys": []string{"shared/*"}}); err != nil {
		t.Fatal(err)
	}
	// The rule (phone) and the grant (every peer, the tablet among them).
	for name, c := range map[string]*node.Client{"phone": phone, "tablet": tablet} {
		poll.Until(t, 15*time.Second, func() error {
			if err := c.Call(ctx, "home", "kv.put", []any{"shared/" + name, 1}, nil); err != nil {
				return fmt.Errorf("%s not granted shared/* yet: %v", name, err)
			}
			return nil
		})
		for _, m := range []string{"sys.stats", "sys.peers", "sys.info", "rpc.discover", "uptime"} {
			if err := c.Call(ctx, "home", m, nil, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
				t.Errorf("%s calling %s: %v; want permission denied", name, m, err)
			} else if !strings.Contains(err.Error(), "takes no key") {
				t.Errorf("%s calling %s: the denial %q does not say why the scoped rule does not apply", name, m, err)
			}
		}
		if err := c.Call(ctx, "home", "kv.get", []any{"private/x"}, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
			t.Errorf("%s reading outside its corner: %v", name, err)
		}
		var allowed []api.Allowed
		if err := c.Call(ctx, "home", authz.AllowedMethod, nil, &allowed); err != nil {
			t.Fatal(err)
		}
		for _, a := range allowed {
			if !strings.HasPrefix(a.Name, "kv.") && a.Name != authz.AllowedMethod {
				t.Errorf("rpc.allowed lists %s for the %s: %+v", a.Name, name, a)
			}
		}
	}
}

// A caller that may not call a method learns nothing about its params: its
// malformed params get permission denied, not invalid params. A caller that
// may gets invalid params, and a key too long or with control characters is
// refused before it is authorized or quoted.
func TestParamsAreCheckedOnlyForCallersThatMayCall(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true, Allow: []string{"node:laptop=kv.*"}})
	laptop, phone := dialAs(t, dn, "laptop"), dialAs(t, dn, "phone")
	ctx := context.Background()
	malformed := map[string]any{"delta": "one"} // no key, a string delta
	if err := phone.Call(ctx, "home", "sys.ping", map[string]any{"bogus": 1}, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Errorf("stranger, sys.ping with bogus params: %v; want permission denied", err)
	}
	if err := laptop.Call(ctx, "home", "kv.inc", malformed, nil); rpc.CodeOf(err) != rpc.CodeInvalidParams {
		t.Errorf("allowed caller, malformed kv.inc: %v; want invalid params", err)
	}
	for _, key := range []string{strings.Repeat("k", 64<<10), "a\nforged row", "\x1b[2Kx"} {
		for name, c := range map[string]*node.Client{"laptop": laptop, "phone": phone} {
			err := c.Call(ctx, "home", "kv.put", []any{key, 1}, nil)
			if rpc.CodeOf(err) != rpc.CodeInvalidParams {
				t.Errorf("%s, kv.put of a bad key (%d bytes): %v; want invalid params", name, len(key), err)
			}
			if err != nil && (len(err.Error()) > 2048 || strings.ContainsAny(err.Error(), "\n\x1b")) {
				t.Errorf("%s: the error quotes the key unbounded or raw: %.200q", name, err)
			}
		}
	}
}
