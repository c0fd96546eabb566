package rpc

import (
	"context"
	"testing"
)

// BenchmarkServerCall measures the server's own work for one small call, as
// a stream message costs it: decoding, identity from the connection cache,
// authorization, binding, the handler, encoding the reply. Transport
// (net/http or the WebSocket) is not included. Report allocs/op.
func BenchmarkServerCall(b *testing.B) {
	reg := NewRegistry()
	Register(reg, "kv.get", "test", func(ctx context.Context, p struct {
		Key string `json:"key"`
	}) (string, error) {
		return "value", nil
	})
	s := NewServer(Config{
		Registry: reg,
		Identify: func(context.Context, string) (Caller, error) {
			return Caller{Node: "cafe", Login: "alice@example.com"}, nil
		},
		Authorize: func(context.Context, Caller, Access) (Grant, error) { return Grant{}, nil },
	})
	cs := &connState{remote: "100.64.0.2:1234"}
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"kv.get","params":["visits"]}`)
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		in := incoming{ctx: context.Background(), conn: cs, remote: cs.remote, callID: "fixed-call-id"}
		out = s.handleBody(in, body, out[:0])
	}
}
