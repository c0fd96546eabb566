package rpc

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeResponse checks that the fast response reader agrees with
// json.Unmarshal on every input json.Unmarshal accepts as a response.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":"x"}`,
		`{"jsonrpc":"2.0","id":"a\"b","result":{"k":[1,2,{"z":"}"}]}}`,
		`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m","data":{"x":1}}}`,
		` { "id" : 7 , "result" : null } `,
		`{"result":[1,"]",{}],"id":2,"extra":true}`,
		`{}`, `[]`, `{"id":1,}`, `{"id":1 "result":2}`,
		`{"ID":1,"Result":2}`, `{"\u0069d":3,"result":4}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want response
		if json.Unmarshal(data, &want) != nil {
			return
		}
		got, err := decodeResponse(data)
		if err != nil {
			t.Fatalf("%q: %v, but json.Unmarshal accepts it", data, err)
		}
		if !sameJSON(got.ID, want.ID) || !sameJSON(got.Result, want.Result) {
			t.Fatalf("%q: got id %s result %s, want id %s result %s", data, got.ID, got.Result, want.ID, want.Result)
		}
		if (got.Error == nil) != (want.Error == nil) || (got.Error != nil && (got.Error.Code != want.Error.Code || got.Error.Message != want.Error.Message)) {
			t.Fatalf("%q: got error %+v, want %+v", data, got.Error, want.Error)
		}
	})
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b)) || string(bytes.TrimSpace(a)) == "null" || string(bytes.TrimSpace(b)) == "null"
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && bytes.Equal(mustJSON(x), mustJSON(y))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// FuzzDecodeResult: a reply's result, decoded by decodeResult (which skips
// encoding/json for a plain string), is what json.Unmarshal gives.
func FuzzDecodeResult(f *testing.F) {
	for _, s := range []string{"", "x", "plain text of some length, more than sixteen bytes", `a"b`, `a\b`, "<b>", "&amp;",
		"tab\there", "nul\x00", "é", "\xff", "\u2028", `\"`, `ends with \\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(`"` + s + `"`)
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
