package jsonfast

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkVersusEncodingJSON measures each fast path beside the
// encoding/json call it stands in for, on a request carrying a 512 KiB
// value (a put of a large value: the case the fast paths are for) and on a
// small one. docs/benchmarks.md has the figures.
func BenchmarkVersusEncodingJSON(b *testing.B) {
	for _, size := range []int{64, 512 << 10} {
		value := `"` + strings.Repeat("v", size) + `"`
		req := []byte(`{"jsonrpc":"2.0","id":1,"method":"kv.put","params":{"key":"blob","value":` + value + `}}`)
		params := req[bytes.Index(req, []byte(`{"key"`)) : len(req)-1]
		name := func(what, how string) string { return fmt.Sprintf("%s/%dB/%s", what, size, how) }
		b.Run(name("valid", "jsonfast"), func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			for range b.N {
				Check(req)
			}
		})
		b.Run(name("valid", "encoding-json"), func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			for range b.N {
				json.Valid(req)
			}
		})
		b.Run(name("compact-check", "encoding-json"), func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			var buf bytes.Buffer
			for range b.N {
				buf.Reset()
				json.Compact(&buf, req)
			}
		})
		b.Run(name("split-params", "jsonfast"), func(b *testing.B) {
			b.SetBytes(int64(len(params)))
			for range b.N {
				SplitObject(params)
			}
		})
		b.Run(name("split-params", "encoding-json"), func(b *testing.B) {
			b.SetBytes(int64(len(params)))
			for range b.N {
				var m map[string]json.RawMessage
				json.Unmarshal(params, &m)
			}
		})
		b.Run(name("valid-depth", "jsonfast"), func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			for range b.N {
				ValidDepth(req)
			}
		})
		b.Run(name("valid-depth", "encoding-json-tokens"), func(b *testing.B) {
			b.SetBytes(int64(len(req)))
			for range b.N {
				json.Valid(req)
				depthByTokens(req)
			}
		})
		s := value[1 : len(value)-1]
		b.Run(name("append-string", "jsonfast"), func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			buf := make([]byte, 0, len(s)+2)
			for range b.N {
				buf = AppendString(buf[:0], s)
			}
		})
		b.Run(name("append-string", "encoding-json"), func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for range b.N {
				json.Marshal(s)
			}
		})
	}
}
