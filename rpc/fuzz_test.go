package rpc_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/rpc"
)

// FuzzServeBody sends arbitrary bodies through the whole server path
// (decoding, batch handling, parameter binding, handlers) and checks that
// every answer is a well-formed JSON-RPC reply or a 204, never a crash.
func FuzzServeBody(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"inc","params":{"key":"k","delta":2}}`,
		`{"jsonrpc":"2.0","id":"x","method":"inc","params":["k",2]}`,
		`{"jsonrpc":"2.0","method":"inc","params":["k"]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"sum","params":[1,2,3]},{"jsonrpc":"2.0","method":"notify_hello","params":[7]}]`,
		`[]`, `[1,2]`, `{}`, `null`, `"x"`,
		`{"jsonrpc":"2.0","id":{},"method":"sum"}`,
		`{"jsonrpc":"2.0","id":1,"method":"inc","params":{"key":"k","delta":"five"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"subtract","params":[1,2,3]}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
		`{"jsonrpc":"2.0","id":1,"method":"get_data","params":[[[[[[[[[[]]]]]]]]]]}`,
	} {
		f.Add([]byte(seed))
	}
	srv := rpc.NewServer(rpc.Config{Registry: fuzzRegistry(), MaxBodyBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/rpc", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		res := rec.Result()
		out, _ := io.ReadAll(res.Body)
		switch res.StatusCode {
		case http.StatusNoContent:
			if len(out) != 0 {
				t.Fatalf("204 with a body: %q", out)
			}
		case http.StatusOK, http.StatusRequestEntityTooLarge:
			if !json.Valid(out) || !strings.Contains(string(out), `"jsonrpc":"2.0"`) {
				t.Fatalf("body %q got a reply that is not JSON-RPC: %q", body, out)
			}
		default:
			t.Fatalf("body %q: status %d", body, res.StatusCode)
		}
	})
}

// fuzzRegistry is testRegistry without the procedures that sleep or block.
func fuzzRegistry() *rpc.Registry {
	reg := testRegistry()
	for _, slow := range []string{"sleep", "block"} {
		reg.Remove(slow)
	}
	return reg
}

// FuzzBindParams: any params give one raw value per declared param, the
// required ones present, or an invalid-params error; never a panic.
func FuzzBindParams(f *testing.F) {
	for _, seed := range []string{`{"key":"k","delta":2}`, `["k",2]`, `["k"]`, `{}`, `[]`, `null`, ``, `"k"`, `{"key":null}`, `[1,2,3]`, `{"other":1}`} {
		f.Add([]byte(seed))
	}
	declared := []rpc.Param{{Name: "key", Required: true}, {Name: "delta"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		items, err := rpc.BindParams("kv.inc", declared, raw)
		if err != nil {
			if rpc.CodeOf(err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), "kv.inc") {
				t.Fatalf("error %v is not an invalid-params error naming the method", err)
			}
			return
		}
		if len(items) != len(declared) || items[0] == nil {
			t.Fatalf("bound %q to %q", raw, items)
		}
	})
}
