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
