package rpc

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzSplit: on valid JSON the splitters agree with encoding/json, or
// decline (and encoding/json decides).
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`[]`, `["a", 1, {"b": [2, "]"]}, null, true]`, ` [ "x\\"y" , -1.5e3 ] `, `{}`,
		`{"key": "k", "delta": 2}`, `{"a": 1, "a": 2}`, `{"k\\u0065y": 1}`, `{"a": {"b": "}"}, "c": []}`, `[1,]`, `{"a" 1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		if items, ok := splitArray(raw); ok {
			var want []json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil || len(items) != len(want) {
				t.Fatalf("splitArray(%q) = %q, encoding/json %q %v", raw, items, want, err)
			}
			for i := range want {
				if !bytes.Equal(bytes.TrimSpace(items[i]), bytes.TrimSpace(want[i])) {
					t.Fatalf("splitArray(%q)[%d] = %q, want %q", raw, i, items[i], want[i])
				}
			}
		}
		if keys, vals, ok := splitObject(raw); ok {
			var want map[string]json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("splitObject(%q) accepted what encoding/json refuses: %v", raw, err)
			}
			got := map[string]json.RawMessage{}
			for i, k := range keys {
				got[k] = vals[i]
			}
			if len(got) != len(want) {
				t.Fatalf("splitObject(%q): %d keys, want %d", raw, len(got), len(want))
			}
			for k, v := range want {
				if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
					t.Fatalf("splitObject(%q)[%q] = %q, want %q", raw, k, got[k], v)
				}
			}
		}
		var s string
		if p, ok := plainString(bytes.TrimSpace(raw)); ok && json.Unmarshal(raw, &s) == nil && s != p {
			t.Fatalf("plainString(%q) = %q, want %q", raw, p, s)
		}
	})
}

// FuzzDecodeRequest: the plain decoder and encoding/json agree on every
// request the plain one accepts.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"kv.inc","params":["k"],"meshrpc":{"call_id":"x","timeout_ms":5}}`,
		`{"jsonrpc":"2.0","id":"a","method":"m"}`, `{"jsonrpc":"2.0","id":null,"method":"m","params":null}`,
		`{"Method":"m"}`, `{"jsonrpc":2,"method":"m"}`, `{"method":"a","method":"b"}`, `{"meshrpc":null}`,
		`{"meshrpc":{"timeout_ms":1.5}}`, `{"meshrpc":{"call_id":"\u0041"}}`, `{"id":[1],"method":"m"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		var fast request
		if !decodePlainRequest(raw, &fast) {
			return
		}
		var slow request
		if err := json.Unmarshal(raw, &slow); err != nil {
			t.Fatalf("%q: the plain decoder accepted what encoding/json refuses: %v", raw, err)
		}
		same := fast.JSONRPC == slow.JSONRPC && fast.Method == slow.Method &&
			bytes.Equal(fast.ID, slow.ID) && bytes.Equal(fast.Params, slow.Params) &&
			(fast.Meta == nil) == (slow.Meta == nil) && (fast.Meta == nil || *fast.Meta == *slow.Meta)
		if !same {
			t.Fatalf("%q: plain %+v %+v, encoding/json %+v %+v", raw, fast, fast.Meta, slow, slow.Meta)
		}
	})
}

// TestPlainParamsEncodeAsJSONMarshal: the client's fast path writes what
// json.Marshal writes, or declines.
func TestPlainParamsEncodeAsJSONMarshal(t *testing.T) {
	for _, tc := range []struct {
		params any
		ok     bool
	}{
		{[]string{"hikakin", "a b", `quo"te`, "back\\slash", "<html>&", "café", "\x01", ""}, true},
		{[]string{}, true},
		{[]any{"shared/visits", 5, int64(-9223372036854775808), "é"}, true},
		{[]any{}, true},
		{[]any{"x", 1.5}, false}, // a float: json.Marshal decides
		{[]any{"x", nil}, false},
		{[]string(nil), false}, // null, not []
		{map[string]any{"a": 1}, false},
	} {
		want, _ := json.Marshal(tc.params)
		got, ok := appendPlainParams(nil, tc.params)
		if ok != tc.ok || ok && string(got) != string(want) {
			t.Errorf("%#v: got %s (%v), want %s (%v)", tc.params, got, ok, want, tc.ok)
		}
	}
	for _, s := range []string{"kv.inc", "méthode", "a<b", "0f7c2d4e-1234"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}
