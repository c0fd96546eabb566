package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"

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

// A full socket never holds up a sender: lines sent while the other side
// does not read return at once, and arrive whole and in order once it
// reads; a last line sent by finish goes out before the close.
func TestLinesWaitForASlowReaderWithoutTheirSenders(t *testing.T) {
	a, b, err := socketPair(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	lc := newLineConn(a, nil)
	if lc.raw == nil {
		t.Fatal("a unix socket's lineConn writes through its raw conn")
	}
	line := make([]byte, 64<<10)
	const lines = 64 // 4 MiB, far more than the socket buffers
	for i := range lines {
		copy(line, fmt.Sprintf(`"%08d`, i))
		for j := 9; j < len(line)-1; j++ {
			line[j] = 'x'
		}
		line[len(line)-1] = '"'
		sent := make(chan bool, 1)
		go func() { sent <- lc.sendLine(line) }()
		select {
		case ok := <-sent:
			if !ok {
				t.Fatalf("line %d: the connection ended", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("line %d: the sender waited for the reader", i)
		}
	}
	lc.finish(json.RawMessage(`"bye"`), errors.New("done"))
	r := bufio.NewReaderSize(b, 1<<20)
	for i := range lines {
		got, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want := fmt.Sprintf(`"%08d`, i); len(got) != len(line)+1 || string(got[:9]) != want {
			t.Fatalf("line %d: %d bytes beginning %.9s, want %d beginning %s", i, len(got), got, len(line)+1, want)
		}
	}
	if last, err := r.ReadString('\n'); last != "\"bye\"\n" || err != nil {
		t.Fatalf("the last line: %q, %v", last, err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after the last line: %v, want the connection closed", err)
	}
}

// socketPair is a connected pair of unix stream sockets.
func socketPair(dir string) (net.Conn, net.Conn, error) {
	ln, err := net.Listen("unix", filepath.Join(dir, "lc.sock"))
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	return a, <-accepted, nil
}
