package rpc

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

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
		if got := jsonfast.AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzEncodeRequest: the client's request encoder writes what json.Marshal
// writes for the same request.
func FuzzEncodeRequest(f *testing.F) {
	f.Add(int64(1), "kv.inc", "shared/visits", int64(5), "0f7c", int64(1500), uint8(0))
	f.Add(int64(0), "méthode<>", "a\"b\\c\n", int64(-1), "", int64(0), uint8(1))
	f.Add(int64(-7), "x", "\xff\u2028", int64(1<<62), "id\x00", int64(1), uint8(2))
	f.Fuzz(func(t *testing.T, id int64, method, s string, n int64, callID string, timeout int64, shape uint8) {
		var params any
		switch shape % 4 {
		case 0:
			params = []any{s, n}
		case 1:
			params = []string{s, method}
		case 2:
			params = struct {
				Key string `json:"key"`
				N   int64  `json:"n"`
			}{s, n}
		}
		var meta *requestMeta
		if callID != "" {
			meta = &requestMeta{CallID: callID, TimeoutMs: max(timeout, 0)}
		}
		got, err := encodeRequest(nil, id, method, params, meta)
		if err != nil {
			t.Fatal(err)
		}
		want := struct {
			JSONRPC string       `json:"jsonrpc"`
			ID      int64        `json:"id,omitempty"`
			Method  string       `json:"method"`
			Params  any          `json:"params,omitempty"`
			Meta    *requestMeta `json:"meshrpc,omitempty"`
		}{"2.0", id, method, params, meta}
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Fatalf("encodeRequest wrote\n%s\njson.Marshal\n%s", got, wantJSON)
		}
	})
}
