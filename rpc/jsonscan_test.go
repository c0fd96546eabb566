package rpc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzScan holds the fast scans to encoding/json's answers: a string
// verbatimString passes encodes as itself, and a string stringEnd calls plain
// is valid JSON that decodes to its bytes.
func FuzzScan(f *testing.F) {
	for _, s := range []string{"", "x", "plain text of some length, more than sixteen bytes", `a"b`, `a\b`, "<b>", "&amp;",
		"tab\there", "nul\x00", "é", "\xff", "\u2028", `\"`, `ends with \\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if verbatimString(s) && string(want) != `"`+s+`"` {
			t.Fatalf("verbatimString(%q), but encoding/json writes %s", s, want)
		}
		raw := []byte(`"` + s + `"`)
		end, plain := stringEnd(raw, 0)
		if plain {
			var got string
			lit := raw[:end]
			if json.Unmarshal(lit, &got) != nil || (got != string(lit[1:end-1]) && !strings.ContainsRune(got, '\uFFFD')) {
				t.Fatalf("stringEnd(%q) = %d, plain, but encoding/json decodes %q to %q", raw, end, lit, got)
			}
		}
		if end > 0 && end != len(raw) && json.Valid(raw) {
			t.Fatalf("stringEnd(%q) = %d, but the string is valid and ends at %d", raw, end, len(raw))
		}
		// As a reply's result: decodeResult gives what json.Unmarshal gives.
		reply := []byte(`{"jsonrpc":"2.0","id":1,"result":` + string(raw) + `}`)
		r, err := decodeResponse(reply)
		if err != nil || !json.Valid(reply) {
			return
		}
		var gotRaw, wantRaw json.RawMessage
		var gotStr, wantStr string
		if decodeResult(r, &gotRaw) != nil || json.Unmarshal(raw, &wantRaw) != nil || !bytes.Equal(gotRaw, wantRaw) {
			t.Fatalf("%s: decodeResult into a RawMessage gave %s, json.Unmarshal %s", reply, gotRaw, wantRaw)
		}
		if decodeResult(r, &gotStr) != nil || json.Unmarshal(raw, &wantStr) != nil || gotStr != wantStr {
			t.Fatalf("%s: decodeResult into a string gave %q, json.Unmarshal %q", reply, gotStr, wantStr)
		}
	})
}

func TestVerbatimStringBoundaries(t *testing.T) {
	base := strings.Repeat("a", 40)
	for i := range len(base) { // a byte to escape at every offset of the 16-byte steps and the tail
		for _, c := range []byte{'"', '\\', '<', '>', '&', '\n', 0x7f + 1, 0} {
			s := base[:i] + string([]byte{c}) + base[i+1:]
			if verbatimString(s) {
				t.Fatalf("verbatimString(%q) = true", s)
			}
		}
	}
	if !verbatimString(base) || !verbatimString("") {
		t.Fatal("plain ASCII is verbatim")
	}
}

func BenchmarkScan1MiB(b *testing.B) {
	s := strings.Repeat("x", 1<<20)
	raw := []byte(`"` + s + `"`)
	b.Run("stringEnd", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for range b.N {
			stringEnd(raw, 0)
		}
	})
	b.Run("verbatimString", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for range b.N {
			verbatimString(s)
		}
	})
}
