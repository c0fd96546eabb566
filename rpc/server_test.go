package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/rpc"
)

type incParams struct {
	Key   string `json:"key"`
	Delta int64  `json:"delta,omitempty"`
}

// testRegistry has a few procedures that exercise binding and failure.
func testRegistry() *rpc.Registry {
	reg := rpc.NewRegistry()
	var mu sync.Mutex
	counts := map[string]int64{}
	rpc.Register(reg, "inc", "Adds delta (default 1) to key.", func(ctx context.Context, p incParams) (int64, error) {
		if p.Delta == 0 {
			p.Delta = 1
		}
		mu.Lock()
		defer mu.Unlock()
		counts[p.Key] += p.Delta
		return counts[p.Key], nil
	})
	rpc.Register(reg, "subtract", "Spec example.", func(ctx context.Context, p struct {
		Minuend    int `json:"minuend"`
		Subtrahend int `json:"subtrahend"`
	}) (int, error) {
		return p.Minuend - p.Subtrahend, nil
	})
	rpc.Register(reg, "sum", "Spec example.", func(ctx context.Context, p struct {
		A int `json:"a"`
		B int `json:"b"`
		C int `json:"c"`
	}) (int, error) {
		return p.A + p.B + p.C, nil
	})
	rpc.Register(reg, "get_data", "Spec example.", func(ctx context.Context, _ struct{}) ([]any, error) {
		return []any{"hello", 5}, nil
	})
	rpc.Register(reg, "notify_hello", "Spec example.", func(ctx context.Context, p struct {
		N int `json:"n"`
	}) (any, error) {
		return nil, nil
	})
	rpc.Register(reg, "notify_sum", "Spec example.", func(ctx context.Context, p struct {
		A int `json:"a"`
		B int `json:"b"`
		C int `json:"c"`
	}) (any, error) {
		return nil, nil
	})
	rpc.Register(reg, "update", "Spec example.", func(ctx context.Context, p struct {
		A int `json:"a"`
		B int `json:"b"`
		C int `json:"c"`
		D int `json:"d"`
		E int `json:"e"`
	}) (any, error) {
		return nil, nil
	})
	rpc.Register(reg, "sleep", "Sleeps, ignoring its context.", func(ctx context.Context, p struct {
		Ms int `json:"ms"`
	}) (string, error) {
		time.Sleep(time.Duration(p.Ms) * time.Millisecond)
		return "slept", nil
	})
	rpc.Register(reg, "block", "Waits for its context to end.", func(ctx context.Context, _ struct{}) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	rpc.Register(reg, "panic", "Panics.", func(ctx context.Context, _ struct{}) (string, error) {
		panic("boom")
	})
	rpc.Register(reg, "fail", "Returns a typed error.", func(ctx context.Context, _ struct{}) (string, error) {
		return "", &rpc.Error{Code: rpc.CodeConflict, Message: "conflict: revision 7", Data: map[string]int{"rev": 7}}
	})
	rpc.Register(reg, "blob", "A string of n bytes.", func(ctx context.Context, p struct {
		N int `json:"n"`
	}) (string, error) {
		if p.N <= len(blob) {
			return blob[:p.N], nil // the payload is at hand, as raw-bulk's is
		}
		return strings.Repeat("x", p.N), nil
	})
	rpc.Register(reg, "whoami", "The caller.", func(ctx context.Context, _ struct{}) (rpc.Caller, error) {
		c, _ := rpc.CallerFrom(ctx)
		return c, nil
	})
	return reg
}

// blob is the result of blob calls up to 1 MiB, made once.
var blob = strings.Repeat("x", 1<<20)

// serve starts a server for cfg on a loopback port and returns its address.
func serve(t *testing.T, cfg rpc.Config) string {
	t.Helper()
	if cfg.Registry == nil {
		cfg.Registry = testRegistry()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(cfg)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func client(t *testing.T, addr string) *rpc.Client {
	c := rpc.NewClient(rpc.ClientConfig{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// post sends body raw and returns the status and the reply body.
func post(t *testing.T, addr, contentType, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/rpc", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("reply Content-Type = %q, want application/json", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

func TestCallNamedAndPositional(t *testing.T) {
	c := client(t, serve(t, rpc.Config{}))
	ctx := context.Background()
	var n int64
	if err := c.Call(ctx, "inc", map[string]any{"key": "k", "delta": 5}, &n); err != nil || n != 5 {
		t.Fatalf("named: %d, %v", n, err)
	}
	if err := c.Call(ctx, "inc", []any{"k", 2}, &n); err != nil || n != 7 {
		t.Fatalf("positional: %d, %v", n, err)
	}
	if err := c.Call(ctx, "inc", []any{"k"}, &n); err != nil || n != 8 {
		t.Fatalf("optional param omitted: %d, %v", n, err)
	}
	if err := c.Call(ctx, "inc", incParams{Key: "k", Delta: 2}, &n); err != nil || n != 10 {
		t.Fatalf("struct params: %d, %v", n, err)
	}
}

func TestInvalidParams(t *testing.T) {
	c := client(t, serve(t, rpc.Config{}))
	for _, tc := range []struct {
		params any
		want   string
	}{
		{map[string]any{"key": "k", "delta": "five"}, `param "delta" must be an integer, not a string`},
		{map[string]any{"delta": 1}, `missing required param "key"`},
		{map[string]any{"key": "k", "colour": 1}, `unknown param "colour"`},
		{[]any{"k", 1, 2}, "3 params given"},
		{nil, `missing required param "key"`},
	} {
		err := c.Call(context.Background(), "inc", tc.params, nil)
		if rpc.CodeOf(err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("inc(%v): err = %v; want -32602 mentioning %q", tc.params, err, tc.want)
		}
	}
}

// TestSpecExamples replays section 7 of the JSON-RPC 2.0 specification.
func TestSpecExamples(t *testing.T) {
	addr := serve(t, rpc.Config{})
	for _, tc := range []struct{ name, req, want string }{
		{"positional", `{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}`, `{"jsonrpc":"2.0","id":1,"result":19}`},
		{"named", `{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}`, `{"jsonrpc":"2.0","id":3,"result":19}`},
		{"notification", `{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}`, ``},
		{"unknown method", `{"jsonrpc": "2.0", "method": "foobar", "id": "1"}`, `"id":"1","error":{"code":-32601`},
		{"invalid JSON", `{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]`, `"id":null,"error":{"code":-32700`},
		{"invalid request", `{"jsonrpc": "2.0", "method": 1, "params": "bar"}`, `"id":null,"error":{"code":-32600`},
		{"batch invalid JSON", `[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method"]`, `"id":null,"error":{"code":-32700`},
		{"empty batch", `[]`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600`},
		{"invalid batch", `[1]`, `[{"jsonrpc":"2.0","id":null,"error":{"code":-32600`},
		{"invalid batch of three", `[1,2,3]`, `[{"jsonrpc":"2.0","id":null,"error":{"code":-32600`},
		{"notifications only", `[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]`, ``},
		{"wrong version", `{"jsonrpc": "1.0", "method": "sum", "id": 1}`, `"id":1,"error":{"code":-32600`},
		{"object id", `{"jsonrpc": "2.0", "method": "sum", "id": {}}`, `"id":null,"error":{"code":-32600`},
		{"null id", `{"jsonrpc": "2.0", "method": "get_data", "id": null}`, `{"jsonrpc":"2.0","id":null,"result":["hello",5]}`},
		{"fractional id", `{"jsonrpc": "2.0", "method": "get_data", "id": 1.5}`, `{"jsonrpc":"2.0","id":1.5,"result":["hello",5]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, addr, "application/json", tc.req)
			if tc.want == "" {
				if status != http.StatusNoContent || body != "" {
					t.Fatalf("got %d %q; want 204 and no body", status, body)
				}
				return
			}
			if status != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s; want 200 containing %s", status, body, tc.want)
			}
		})
	}
	// The spec's mixed batch: answers for every request but the notifications.
	_, body := post(t, addr, "application/json; charset=utf-8", `[
		{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
		{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
		{"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
		{"foo": "boo"},
		{"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
		{"jsonrpc": "2.0", "method": "get_data", "id": "9"}]`)
	var replies []map[string]any
	if err := json.Unmarshal([]byte(body), &replies); err != nil || len(replies) != 5 {
		t.Fatalf("mixed batch: %s; want 5 replies", body)
	}
}

func TestRefusedBeforeReading(t *testing.T) {
	addr := serve(t, rpc.Config{Hosts: []string{"127.0.0.1", "home"}, MaxBodyBytes: 1024})
	ping := `{"jsonrpc":"2.0","id":1,"method":"get_data"}`
	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		header      []string
		status      int
	}{
		{"no content type", "", ping, nil, 415},
		{"form post", "application/x-www-form-urlencoded", ping, nil, 415},
		{"text/plain", "text/plain", ping, nil, 415},
		{"foreign origin", "application/json", ping, []string{"Origin", "http://evil.example"}, 403},
		{"own origin", "application/json", ping, []string{"Origin", "http://" + addr}, 200},
		{"rebinding host", "application/json", ping, []string{"Host", "evil.example"}, 421},
		{"known host", "application/json", ping, []string{"Host", "home:4343"}, 200},
		{"oversized body", "application/json", `{"jsonrpc":"2.0","id":1,"method":"get_data","params":["` + strings.Repeat("x", 2048) + `"]}`, nil, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+addr+"/rpc", strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for i := 0; i < len(tc.header); i += 2 {
				if tc.header[i] == "Host" {
					req.Host = tc.header[i+1]
				} else {
					req.Header.Set(tc.header[i], tc.header[i+1])
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.status)
			}
			if !strings.Contains(string(b), `"jsonrpc":"2.0"`) {
				t.Errorf("body %s is not a JSON-RPC reply", b)
			}
		})
	}
	// The node keeps serving after every refusal.
	if status, _ := post(t, addr, "application/json", ping); status != 200 {
		t.Fatalf("after refusals: status %d", status)
	}
}

func TestBadBodies(t *testing.T) {
	addr := serve(t, rpc.Config{})
	for _, tc := range []struct{ name, body, want string }{
		{"truncated", `{"jsonrpc":"2.0","id":1,"meth`, "-32700"},
		{"not UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", "not valid UTF-8"},
		{"deeply nested", `{"jsonrpc":"2.0","id":1,"method":"get_data","params":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`, "nested"},
		{"scalar", `42`, "-32600"},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"get_data","params":"x"}`, "-32600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, addr, "application/json", tc.body)
			if status != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s; want 200 with %q", status, body, tc.want)
			}
		})
	}
}

func TestErrorsCarryTheirCodes(t *testing.T) {
	c := client(t, serve(t, rpc.Config{}))
	err := c.Call(context.Background(), "fail", nil, nil)
	var e *rpc.Error
	if !errors.As(err, &e) || e.Code != rpc.CodeConflict || !strings.Contains(e.Message, "revision 7") {
		t.Fatalf("typed error: %v", err)
	}
	if rpc.CodeOf(c.Call(context.Background(), "nope", nil, nil)) != rpc.CodeMethodNotFound {
		t.Fatal("unknown method not -32601")
	}
}

func TestPanicIsAnInternalErrorAndTheNodeServesOn(t *testing.T) {
	c := client(t, serve(t, rpc.Config{}))
	err := c.Call(context.Background(), "panic", nil, nil)
	if rpc.CodeOf(err) != rpc.CodeInternalError || strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic: err = %v; want -32603 without the panic value", err)
	}
	var d []any
	if err := c.Call(context.Background(), "get_data", nil, &d); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

func TestDeadlines(t *testing.T) {
	addr := serve(t, rpc.Config{DefaultTimeout: 300 * time.Millisecond})
	c := client(t, addr)

	// The client's deadline travels in a header and ends the handler's context.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, body := post(t, addr, "application/json", `{"jsonrpc":"2.0","id":1,"method":"block"}`, "Meshrpc-Timeout-Ms", "50")
	if !strings.Contains(body, "-32004") {
		t.Fatalf("header deadline: %s; want -32004", body)
	}
	// The server's own limit holds even for a handler that ignores its context.
	err := c.Call(context.Background(), "sleep", map[string]int{"ms": 2000}, nil)
	if rpc.CodeOf(err) != rpc.CodeDeadlineExceeded {
		t.Fatalf("handler ignoring ctx: err = %v; want -32004", err)
	}
	// A client whose context ends gives up on its side.
	if err := c.Call(ctx, "block", nil, nil); !errors.Is(err, context.DeadlineExceeded) && rpc.CodeOf(err) != rpc.CodeDeadlineExceeded {
		t.Fatalf("client deadline: %v", err)
	}
}

func TestCallIDIsEchoed(t *testing.T) {
	addr := serve(t, rpc.Config{})
	req, _ := http.NewRequest("POST", "http://"+addr+"/rpc", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"get_data"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Meshrpc-Call-Id", "call-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Meshrpc-Call-Id"); got != "call-42" {
		t.Fatalf("Meshrpc-Call-Id = %q, want call-42", got)
	}
}

func TestAuthorizeRunsFirst(t *testing.T) {
	identified := 0
	var mu sync.Mutex
	addr := serve(t, rpc.Config{
		Identify: func(ctx context.Context, remote string) (rpc.Caller, error) {
			mu.Lock()
			identified++
			mu.Unlock()
			return rpc.Caller{Node: "laptop", Login: "alice@example.com"}, nil
		},
		Authorize: func(ctx context.Context, c rpc.Caller, a rpc.Access) (rpc.Grant, error) {
			if a.Method == "get_data" {
				return rpc.Grant{}, nil
			}
			return rpc.Grant{}, rpc.Errorf(rpc.CodePermissionDenied, "permission denied: %s may not call %s", c.Node, a.Method)
		},
	})
	c := client(t, addr)
	for range 5 {
		if err := c.Call(context.Background(), "get_data", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"inc", "no.such.method"} {
		if err := c.Call(context.Background(), m, nil, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
			t.Errorf("%s: err = %v; want permission denied (also for unknown methods, which are not revealed)", m, err)
		}
	}
	if identified != 1 {
		t.Errorf("Identify called %d times for 7 calls on one connection; want once", identified)
	}
}

func TestTooManyCallsFromOneCaller(t *testing.T) {
	reg := testRegistry()
	entered := make(chan struct{}, 2)
	rpc.Register(reg, "hold", "Signals, then waits for its context to end.", func(ctx context.Context, _ struct{}) (string, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return "", ctx.Err()
	})
	c := client(t, serve(t, rpc.Config{Registry: reg, MaxCallsPerCaller: 2}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for range 2 {
		wg.Go(func() { c.Call(ctx, "hold", nil, nil) })
	}
	for range 2 { // both slots taken before the third call, which sent earlier would take one of theirs
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the two holding calls did not both start")
		}
	}
	err := c.Call(context.Background(), "get_data", nil, nil)
	if rpc.CodeOf(err) != rpc.CodeTooManyRequests {
		t.Fatalf("third concurrent call: %v; want -32006", err)
	}
}

func TestStalledClientsDoNotBlockOthers(t *testing.T) {
	addr := serve(t, rpc.Config{})
	// One client stops mid-headers, another mid-body.
	for _, partial := range []string{
		"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Ty",
		"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, partial)
	}
	c := client(t, addr)
	var d []any
	if err := c.Call(context.Background(), "get_data", nil, &d); err != nil || len(d) != 2 {
		t.Fatalf("live caller beside stalled ones: %v, %v", d, err)
	}
}

func TestH2C(t *testing.T) {
	addr := serve(t, rpc.Config{})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: &p}}
	resp, err := hc.Post("http://"+addr+"/rpc", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"get_data"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || !strings.Contains(string(b), `"result":["hello",5]`) {
		t.Fatalf("h2c: %s %s", resp.Proto, b)
	}
}

func TestBatchClient(t *testing.T) {
	c := client(t, serve(t, rpc.Config{}))
	var a, b int64
	calls := []*rpc.BatchCall{
		{Method: "inc", Params: []any{"x"}, Result: &a},
		{Method: "inc", Params: []any{"x", 10}, Result: &b},
		{Method: "nope"},
	}
	if err := c.Batch(context.Background(), calls); err != nil {
		t.Fatal(err)
	}
	// The batch's calls run concurrently: either increment may come first.
	if max(a, b) != 11 || calls[2].Error == nil || calls[2].Error.Code != rpc.CodeMethodNotFound {
		t.Fatalf("batch: a=%d b=%d err=%v", a, b, calls[2].Error)
	}
}

func TestUnreachablePeerIsUnavailable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	err := client(t, addr).Call(context.Background(), "get_data", nil, nil)
	if !errors.Is(err, rpc.ErrUnavailable) || rpc.CodeOf(err) != rpc.CodeUnavailable {
		t.Fatalf("call to a closed port: %v; want unavailable", err)
	}
}

// Pages (a web console) sit behind the same Host check as /rpc, so a
// rebound DNS name cannot read them either.
func TestPagesAreBehindTheHostCheck(t *testing.T) {
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console") })
	addr := serve(t, rpc.Config{Hosts: []string{"127.0.0.1", "home"}, Pages: pages})
	for host, want := range map[string]int{"home:4343": 200, "evil.example": 421, addr: 200} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET / with Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
