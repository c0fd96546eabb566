package rpc_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/meshrpc/meshrpc/rpc"
)

func TestCheckMethodName(t *testing.T) {
	for name, ok := range map[string]bool{
		"kv.get": true, "rpc.discover": true, "backup-home": true, "a_b.C-9": true, "x": true,
		"": false, ".kv": false, "kv.": false, "kv..get": false, "9lives": false, "kv get": false,
		"kv.get\n": false, "k\x00": false, "kv/get": false, "kév": false,
		strings.Repeat("a", rpc.MaxMethodBytes): true, strings.Repeat("a", rpc.MaxMethodBytes+1): false,
	} {
		if err := rpc.CheckMethodName(name); (err == nil) != ok {
			t.Errorf("CheckMethodName(%.40q) = %v; want ok=%v", name, err, ok)
		}
	}
}

// A method name that cannot be one is refused before anything reads it,
// and only a bounded, quoted form reaches the reply and the record.
func TestMethodNamesAreCheckedBeforeUse(t *testing.T) {
	var mu sync.Mutex
	var recorded []string
	authorized := 0
	addr := serve(t, rpc.Config{
		Authorize: func(ctx context.Context, c rpc.Caller, a rpc.Access) (rpc.Grant, error) {
			mu.Lock()
			authorized++
			mu.Unlock()
			return rpc.Grant{}, nil
		},
		Observe: func(r *rpc.CallRecord) {
			mu.Lock()
			recorded = append(recorded, r.Method)
			mu.Unlock()
		},
	})
	huge := strings.Repeat("\x1b[2K\n", 20<<10)
	c := client(t, addr)
	err := c.Call(context.Background(), huge, nil, nil)
	if rpc.CodeOf(err) != rpc.CodeInvalidRequest {
		t.Fatalf("a 100 KB method name: %v; want invalid request", err)
	}
	if len(err.Error()) > 1024 || strings.ContainsAny(err.Error(), "\n\x1b") {
		t.Errorf("the error quotes the name unbounded or raw: %.200q", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if authorized != 0 {
		t.Errorf("Authorize was asked about an invalid name")
	}
	if len(recorded) != 1 || len(recorded[0]) > 256 || strings.ContainsAny(recorded[0], "\n\x1b") {
		t.Errorf("recorded %d calls, the first as %.100q; want one, bounded and quoted", len(recorded), recorded)
	}
}

type keyedParams struct {
	Key   string `json:"key" rpc:"key"`
	Value int    `json:"value,omitempty"`
}

// A procedure that declares a key is authorized on it before its handler
// runs, and its handler gets the key as granted.
func TestDeclaredKeysAreAuthorizedBeforeTheHandler(t *testing.T) {
	reg := rpc.NewRegistry()
	ran := 0
	p := rpc.Register(reg, "put", "", func(ctx context.Context, p keyedParams) (string, error) {
		ran++
		return p.Key + "/" + rpc.GrantFrom(ctx).Key, nil
	})
	if p.Keys != rpc.OneKey {
		t.Fatalf("Keys = %v, want %v", p.Keys, rpc.OneKey)
	}
	var asked []rpc.Access
	addr := serve(t, rpc.Config{Registry: reg,
		Authorize: func(ctx context.Context, c rpc.Caller, a rpc.Access) (rpc.Grant, error) {
			asked = append(asked, a)
			if a.KeyKnown && !strings.HasPrefix(a.Key, "ok/") {
				return rpc.Grant{}, rpc.Errorf(rpc.CodePermissionDenied, "permission denied: %s", a.Key)
			}
			return rpc.Grant{Key: "stored:" + a.Key}, nil
		}})
	c := client(t, addr)
	var got string
	if err := c.Call(context.Background(), "put", []any{"ok/a", 1}, &got); err != nil || got != "stored:ok/a/stored:ok/a" {
		t.Fatalf("allowed call = %q, %v; want the granted key in params and grant", got, err)
	}
	if len(asked) != 2 || asked[0].KeyKnown || asked[0].Keys != rpc.OneKey || !asked[1].KeyKnown || asked[1].Key != "ok/a" {
		t.Errorf("Authorize asked %+v; want the method, then the key", asked)
	}
	if err := c.Call(context.Background(), "put", []any{"no/a"}, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Errorf("denied key: %v", err)
	}
	if ran != 1 {
		t.Errorf("the handler ran %d times; want once, for the allowed call", ran)
	}
}

type batchParams struct {
	Entries []keyedParams `json:"entries" rpc:"keys"`
}

// A procedure that names several keys (rpc:"keys") is authorized on each
// as a call on that key alone would be, before its handler runs; one key
// denied denies the call; the handler gets every key as granted.
func TestEachDeclaredKeyIsAuthorizedBeforeTheHandler(t *testing.T) {
	reg := rpc.NewRegistry()
	ran := 0
	p := rpc.Register(reg, "put_all", "", func(ctx context.Context, p batchParams) ([]string, error) {
		ran++
		var keys []string
		for _, e := range p.Entries {
			keys = append(keys, e.Key)
		}
		return keys, nil
	})
	if p.Keys != rpc.EachKey {
		t.Fatalf("Keys = %v, want %v", p.Keys, rpc.EachKey)
	}
	var mu sync.Mutex
	var asked []rpc.Access
	addr := serve(t, rpc.Config{Registry: reg,
		Authorize: func(ctx context.Context, c rpc.Caller, a rpc.Access) (rpc.Grant, error) {
			mu.Lock()
			asked = append(asked, a)
			mu.Unlock()
			if a.KeyKnown && !strings.HasPrefix(a.Key, "ok/") {
				return rpc.Grant{}, rpc.Errorf(rpc.CodePermissionDenied, "permission denied: %s", a.Key)
			}
			return rpc.Grant{Key: "stored:" + a.Key}, nil
		}})
	c := client(t, addr)
	var got []string
	if err := c.Call(context.Background(), "put_all", []any{[]keyedParams{{Key: "ok/a"}, {Key: "ok/b"}}}, &got); err != nil || strings.Join(got, " ") != "stored:ok/a stored:ok/b" {
		t.Fatalf("allowed call = %q, %v; want the granted keys", got, err)
	}
	if len(asked) != 3 || asked[0].KeyKnown || asked[0].Keys != rpc.EachKey ||
		asked[1] != (rpc.Access{Method: "put_all", Keys: rpc.OneKey, Key: "ok/a", KeyKnown: true}) || asked[2].Key != "ok/b" {
		t.Errorf("Authorize asked %+v; want the method, then each key as one", asked)
	}
	err := c.Call(context.Background(), "put_all", []any{[]keyedParams{{Key: "ok/a"}, {Key: "no/b"}, {Key: "ok/c"}}}, nil)
	if rpc.CodeOf(err) != rpc.CodePermissionDenied || !strings.Contains(err.Error(), "no/b") {
		t.Errorf("a denied key among allowed ones: %v", err)
	}
	many := make([]keyedParams, rpc.MaxCallKeys+1)
	for i := range many {
		many[i].Key = "ok/x"
	}
	if err := c.Call(context.Background(), "put_all", []any{many}, nil); rpc.CodeOf(err) != rpc.CodeInvalidParams {
		t.Errorf("%d keys: %v", len(many), err)
	}
	if ran != 1 {
		t.Errorf("the handler ran %d times; want once, for the allowed call", ran)
	}
}

func TestRegisterRefusesBadKeyDeclarations(t *testing.T) {
	for name, register := range map[string]func(*rpc.Registry){
		"two keys": func(r *rpc.Registry) {
			rpc.Register(r, "x", "", func(context.Context, struct {
				A string `json:"a" rpc:"key"`
				B string `json:"b" rpc:"prefix"`
			}) (int, error) {
				return 0, nil
			})
		},
		"not a string": func(r *rpc.Registry) {
			rpc.Register(r, "x", "", func(context.Context, struct {
				A int `json:"a" rpc:"key"`
			}) (int, error) {
				return 0, nil
			})
		},
		"unknown tag": func(r *rpc.Registry) {
			rpc.Register(r, "x", "", func(context.Context, struct {
				A string `json:"a" rpc:"keyz"`
			}) (int, error) {
				return 0, nil
			})
		},
		"keys on a string": func(r *rpc.Registry) {
			rpc.Register(r, "x", "", func(context.Context, struct {
				A string `json:"a" rpc:"keys"`
			}) (int, error) {
				return 0, nil
			})
		},
		"keys without a key in the elements": func(r *rpc.Registry) {
			rpc.Register(r, "x", "", func(context.Context, struct {
				A []struct {
					K string `json:"k"`
				} `json:"a" rpc:"keys"`
			}) (int, error) {
				return 0, nil
			})
		},
		"bad name": func(r *rpc.Registry) {
			rpc.Register(r, "x y", "", func(context.Context, struct{}) (int, error) { return 0, nil })
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			register(rpc.NewRegistry())
		})
	}
}

// Nothing exported binds what encoding/json would reject: BindParams and a
// registered procedure's Handler, called directly, refuse it.
func TestBindingRefusesWhatIsNotJSON(t *testing.T) {
	declared := []rpc.Param{{Name: "n", Required: true}}
	for _, raw := range []string{`[+5]`, `[5,]`, `{"n":01}`, `["a\x01"]`, `[5`} {
		if items, err := rpc.BindParams("m", declared, json.RawMessage(raw)); rpc.CodeOf(err) != rpc.CodeInvalidParams {
			t.Errorf("BindParams(%s) = %s, %v; want invalid params", raw, items, err)
		}
	}
	reg := rpc.NewRegistry()
	p := rpc.Register(reg, "n", "", func(ctx context.Context, p struct {
		N int `json:"n"`
	}) (int, error) {
		return p.N, nil
	})
	if v, err := p.Handler.ServeRPC(context.Background(), json.RawMessage(`[+5]`)); rpc.CodeOf(err) != rpc.CodeInvalidParams {
		t.Errorf("ServeRPC([+5]) = %v, %v; want invalid params", v, err)
	}
	if v, err := p.Handler.ServeRPC(context.Background(), json.RawMessage(`[5]`)); err != nil || v != 5 {
		t.Errorf("ServeRPC([5]) = %v, %v; want 5", v, err)
	}
}
