package jsonfast

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// Every entry point against encoding/json (the package's contract). The
// seeds run as unit tests; `go test -fuzz FuzzX` explores further.

// FuzzCheck: Check and ValidDepth agree with json.Valid on every input,
// compact with json.Compact leaving the input unchanged, and the depth with
// encoding/json's tokens.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{``, ` `, `0`, `-0`, `01`, `-`, `1.`, `1.5e+3`, `1E-2`, `.5`, `1e`, `true`, `tru`, `nulll`,
		`"a"`, `"\u00e9\n\"\\\/\b\f\r\t"`, `"\x"`, `"\u12g4"`, "\"tab\there\"", `"\xff"`, `"unterminated`, `"a\"`,
		`[]`, `[ ]`, `[1,2]`, `[1,]`, `[,1]`, `{}`, `{"a":1}`, `{"a" : [1, {"b":null}]}`, `{"a":1,}`, `{"a"}`, `{1:2}`,
		`{"a":1}}`, `[1]]`, `[[]`, ` {"a":"b"} `, `"a" "b"`, `{"a":"x y"}`, strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid, compact := Check(b)
		if want := json.Valid(b); valid != want {
			t.Fatalf("Check(%q) valid = %v, json.Valid %v", b, valid, want)
		}
		depth, valid2 := ValidDepth(b)
		if valid2 != valid {
			t.Fatalf("ValidDepth(%q) valid = %v, Check %v", b, valid2, valid)
		}
		if !valid {
			return
		}
		if want := depthByTokens(b); depth != want {
			t.Fatalf("ValidDepth(%q) = %d, encoding/json's tokens say %d", b, depth, want)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			t.Fatal(err)
		}
		if want := bytes.Equal(buf.Bytes(), b); compact != want {
			t.Fatalf("Check(%q) compact = %v, but json.Compact gives %q", b, compact, buf.Bytes())
		}
	})
}

// FuzzStrings: a string Verbatim passes encodes as itself; AppendString
// and AppendStrings write what json.Marshal writes; a string StringEnd
// calls plain, and PlainString's value, decode as encoding/json decodes
// them; skipString ends a valid string where StringEnd does.
func FuzzStrings(f *testing.F) {
	for _, s := range []string{"", "x", "plain text of some length, more than sixteen bytes", `a"b`, `a\b`, "<b>", "&amp;",
		"tab\there", "nul\x00", "é", "\xff", "\u2028", `\"`, `ends with \\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if Verbatim(s) && string(want) != `"`+s+`"` {
			t.Fatalf("Verbatim(%q), but encoding/json writes %s", s, want)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, json.Marshal %s", s, got[1:], want)
		}
		for _, ss := range [][]string{nil, {}, {s}, {s, s[:len(s)/2], ""}} {
			want, _ := json.Marshal(ss)
			if got := AppendStrings(nil, ss); string(got) != string(want) {
				t.Fatalf("AppendStrings(%q) = %s, json.Marshal %s", ss, got, want)
			}
		}
		raw := []byte(`"` + s + `"`)
		end, plain := StringEnd(raw, 0)
		if plain {
			var got string
			lit := raw[:end]
			if json.Unmarshal(lit, &got) != nil || (got != string(lit[1:end-1]) && !strings.ContainsRune(got, '\uFFFD')) {
				t.Fatalf("StringEnd(%q) = %d, plain, but encoding/json decodes %q to %q", raw, end, lit, got)
			}
		}
		if end > 0 && end != len(raw) && json.Valid(raw) {
			t.Fatalf("StringEnd(%q) = %d, but the string is valid and ends at %d", raw, end, len(raw))
		}
		var dec string
		if p, ok := PlainString(raw); ok && json.Valid(raw) && (json.Unmarshal(raw, &dec) != nil || dec != p) {
			t.Fatalf("PlainString(%q) = %q, encoding/json %q", raw, p, dec)
		}
		// skipString finds the same end as StringEnd, without its checks,
		// wherever the input is valid, and never panics elsewhere.
		if skip := skipString(raw, 0); json.Valid(raw) && skip != end {
			t.Fatalf("skipString(%q) = %d, StringEnd %d", raw, skip, end)
		}
	})
}

// FuzzSplit: on valid JSON the splitters agree with encoding/json, or
// decline (and encoding/json decides).
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`[]`, `["a", 1, {"b": [2, "]"]}, null, true]`, ` [ "x\\"y" , -1.5e3 ] `, `{}`,
		`{"key": "k", "delta": 2}`, `{"a": 1, "a": 2}`, `{"k\\u0065y": 1}`, `{"a": {"b": "}"}, "c": []}`, `[1,]`, `{"a" 1}`,
		`12`, `-3`, `1e3`, `99999999999999999999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		if items, ok := SplitArray(raw); ok {
			var want []json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil || len(items) != len(want) {
				t.Fatalf("SplitArray(%q) = %q, encoding/json %q %v", raw, items, want, err)
			}
			for i := range want {
				if !bytes.Equal(bytes.TrimSpace(items[i]), bytes.TrimSpace(want[i])) {
					t.Fatalf("SplitArray(%q)[%d] = %q, want %q", raw, i, items[i], want[i])
				}
			}
		}
		if keys, vals, ok := SplitObject(raw); ok {
			var want map[string]json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("SplitObject(%q) accepted what encoding/json refuses: %v", raw, err)
			}
			got := map[string]json.RawMessage{}
			for i, k := range keys {
				got[k] = vals[i]
			}
			if len(got) != len(want) {
				t.Fatalf("SplitObject(%q): %d keys, want %d", raw, len(got), len(want))
			}
			for k, v := range want {
				if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
					t.Fatalf("SplitObject(%q)[%q] = %q, want %q", raw, k, got[k], v)
				}
			}
		}
		var n int64
		if p, ok := PlainInt(bytes.TrimSpace(raw)); ok && (json.Unmarshal(raw, &n) != nil || n != p) {
			t.Fatalf("PlainInt(%q) = %d, encoding/json %d", raw, p, n)
		}
	})
}

// depthByTokens is ValidDepth's depth the slow way: encoding/json's tokens.
func depthByTokens(raw []byte) int {
	d := json.NewDecoder(bytes.NewReader(raw))
	depth, deepest := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// FuzzAppendFloat: AppendFloat writes what json.Marshal writes.
func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.25, 1e-7, 1e-6, 123456.789, 1e20, 1e21, 5e-324, math.MaxFloat64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		want, err := json.Marshal(v)
		if err != nil {
			want = nil // NaN and infinities: nothing
		}
		if got := AppendFloat(nil, v); string(got) != string(want) {
			t.Fatalf("AppendFloat(%v) = %s, json.Marshal %s", v, got, want)
		}
	})
}

func TestVerbatimBoundaries(t *testing.T) {
	base := strings.Repeat("a", 40)
	for i := range len(base) { // a byte to escape at every offset of the 16-byte steps and the tail
		for _, c := range []byte{'"', '\\', '<', '>', '&', '\n', 0x7f + 1, 0} {
			s := base[:i] + string([]byte{c}) + base[i+1:]
			if Verbatim(s) {
				t.Fatalf("Verbatim(%q) = true", s)
			}
			if valid, _ := Check([]byte(`"` + s + `"`)); valid != json.Valid([]byte(`"`+s+`"`)) {
				t.Fatalf("Check(%q) = %v", s, valid)
			}
		}
	}
	if !Verbatim(base) || !Verbatim("") {
		t.Fatal("plain ASCII is verbatim")
	}
}
