package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/rpc"
)

func TestRegisterFuncBindsByPosition(t *testing.T) {
	r := rpc.NewRegistry()
	rpc.RegisterFunc(r, "add", func(a, b int) int { return a + b })
	rpc.RegisterFunc(r, "put", func(ctx context.Context, k string, v any) error {
		if _, ok := rpc.CallerFrom(ctx); !ok {
			return errors.New("no caller")
		}
		return nil
	})
	rpc.RegisterFunc(r, "fail", func() (string, error) { return "", rpc.Errorf(rpc.CodeNotFound, "nothing") })
	rpc.RegisterFunc(r, "nothing", func() {})

	call := func(name, params string) (any, error) {
		p, ok := r.Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		return p.Handler.ServeRPC(rpc.WithCaller(context.Background(), rpc.Caller{Node: "cafe"}), json.RawMessage(params))
	}
	if v, err := call("add", `[2,3]`); err != nil || v != 5 {
		t.Errorf("add [2,3] = %v, %v", v, err)
	}
	if v, err := call("add", `{"arg1":2,"arg2":5}`); err != nil || v != 7 {
		t.Errorf("add by name = %v, %v", v, err)
	}
	if _, err := call("add", `[2]`); rpc.CodeOf(err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), `missing required param "arg2"`) {
		t.Errorf("add [2]: %v", err)
	}
	if _, err := call("add", `["x",1]`); rpc.CodeOf(err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), "arg1") {
		t.Errorf(`add ["x",1]: %v`, err)
	}
	if v, err := call("put", `["k",{"a":1}]`); err != nil || v != nil {
		t.Errorf("put = %v, %v", v, err)
	}
	if _, err := call("fail", ``); rpc.CodeOf(err) != rpc.CodeNotFound {
		t.Errorf("fail: %v", err)
	}
	if v, err := call("nothing", `[]`); err != nil || v != nil {
		t.Errorf("nothing = %v, %v", v, err)
	}
	p, _ := r.Lookup("add")
	if len(p.Params) != 2 || p.Params[0].Schema["type"] != "integer" || p.Result["type"] != "integer" {
		t.Errorf("add's declaration: %+v -> %+v", p.Params, p.Result)
	}
}

func TestRegisterFuncRefusesWhatItCannotServe(t *testing.T) {
	for name, fn := range map[string]any{
		"not a func":    42,
		"variadic":      func(xs ...int) {},
		"three results": func() (int, int, error) { return 0, 0, nil },
		"error second":  func() (int, int) { return 0, 0 },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			rpc.RegisterFunc(rpc.NewRegistry(), "f", fn)
		}()
	}
}
