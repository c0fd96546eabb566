package node

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

// The lines written by hand are what encoding/json writes (raw params and
// results go as they are, where encoding/json would escape <, > and &).
func TestProgramLinesEncodeAsEncodingJSON(t *testing.T) {
	for _, req := range []api.ProgramRequest{
		{ID: json.RawMessage(`1`), Method: "get"},
		{ID: json.RawMessage(`17`), Method: "get", Params: json.RawMessage(`{"k":"a\"b\u2028"}`), TimeoutMs: 29874, CallID: "4b1f-x",
			Caller: &rpc.Caller{Node: "laptop", NodeFQDN: "laptop.ts.net", Login: "ann@example.com", Tags: []string{"tag:a", "tag:\"b\""}, Addr: "100.64.0.2",
				Caps: map[string][]json.RawMessage{"github.com/meshrpc/meshrpc/cap/rpc": {json.RawMessage(`{"methods":["kv.*"]}`)}}}},
		{ID: json.RawMessage(`"c1"`), Method: "kv.inc", Node: "home", Caller: &rpc.Caller{Login: "x\x01y"}},
		{ID: json.RawMessage(`2`), Method: "echo", Caller: &rpc.Caller{Node: "cafe", NodeFQDN: "cafe.ts.net", Login: "bo@example.com", Tags: []string{"tag:a", "tag:b"}, Addr: "100.64.0.3"}},
		{ID: json.RawMessage(`3`), Method: "echo", Caller: &rpc.Caller{Node: "cafe", Tags: []string{}}},
	} {
		req.JSONRPC = "2.0"
		want, _ := json.Marshal(req)
		got := appendRequest(nil, &req)
		if string(got) != string(want) {
			t.Errorf("appendRequest:\n got %s\nwant %s", got, want)
		}
		var viaJSON api.ProgramRequest
		json.Unmarshal(got, &viaJSON)
		if back, err := decodeRequest(got); err != nil || !reflect.DeepEqual(back, viaJSON) {
			t.Errorf("decodeRequest(%s) = %+v, %v; encoding/json reads %+v", got, back, err, viaJSON)
		}
	}
	for _, res := range []api.ProgramResponse{
		{ID: json.RawMessage(`3`), Result: json.RawMessage(`{"a":[1,2]}`)},
		{ID: json.RawMessage(`3`), Result: json.RawMessage(`null`)},
		{ID: json.RawMessage(`"x"`), Error: &rpc.Error{Code: -32002, Message: "no <key>", Data: map[string]int{"n": 1}}},
	} {
		res.JSONRPC = "2.0"
		want, _ := json.Marshal(res)
		if got := appendResponse(nil, res.ID, res.Result, res.Error); string(got) != string(want) {
			t.Errorf("appendResponse:\n got %s\nwant %s", got, want)
		}
	}
}

// A caller line read without reflection reads as encoding/json reads it,
// whatever a program sends (its own calls' lines carry no caller, but a
// line is a line).
func TestDecodeRequestReadsCallersAsEncodingJSON(t *testing.T) {
	for _, caller := range []string{
		`{"node":"a","login":"b","tags":["tag:x"],"addr":"100.64.0.1"}`,
		`{"node":"a","node":"b"}`,
		`{"Node":"a"}`,
		`{"node":"\u0061"}`,
		`{"tags":null}`,
		`{"tags":[]}`,
		`{"tags":["a",1]}`,
		`{"tags":"a"}`,
		`{"node":1}`,
		`{"login":"é"}`,
		`{"other":{"x":[1]}}`,
		`{ "node" : "a" , "tags" : [ "b" ] }`,
		`{}`,
		`[]`,
		`"a"`,
	} {
		line := []byte(`{"jsonrpc":"2.0","id":1,"method":"m","caller":` + caller + `}`)
		var want api.ProgramRequest
		wantErr := json.Unmarshal(line, &want)
		got, err := decodeRequest(line)
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("caller %s: decodeRequest = %+v, %v; encoding/json reads %+v, %v", caller, got.Caller, err, want.Caller, wantErr)
		}
	}
}
