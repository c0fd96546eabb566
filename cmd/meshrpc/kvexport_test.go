package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

// kv export writes every entry, page by page, as JSON lines; kv import
// puts them back in atomic batches, overwriting or --if-absent, and
// running it twice changes nothing; a bad line stops it with an error
// naming the line, the batches before it written whole and none after.
func TestKVExportImportRoundTrip(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	state := filepath.Join(t.TempDir(), "home")
	serveHome(t, dn.ControlURL(), state)
	logsOnFailure(t, state)
	cli := []string{"--state-dir", state, "kv"}

	// More than two pages of kv.list (1000 entries each), written by a peer.
	peer := meshtest.Join(t, dn, mesh.Config{Hostname: "writer"})
	c := rpc.NewClient(rpc.ClientConfig{Addr: peerAddr(t, peer, "home") + ":4343", Dial: peer.Dial})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const bulk = 2100
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < bulk; i += 16 {
				if err := c.Call(ctx, "kv.put", api.PutParams{Key: fmt.Sprintf("bulk/%05d", i), Value: json.RawMessage(fmt.Sprint(i))}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for key, value := range map[string]string{"shared/a": `{"x":[1,"é"]}`, "shared/b": `"<tag>&"`} {
		if r := run(t, dn.ControlURL(), append(cli, "put", "home", key, value)...); r.code != 0 {
			t.Fatalf("put: %+v", r)
		}
	}

	export := func() (map[string]string, string) {
		t.Helper()
		r := run(t, dn.ControlURL(), append(cli, "export", "home")...)
		if r.code != 0 {
			t.Fatalf("export: %+v", r)
		}
		got := map[string]string{}
		prev := ""
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var e api.Entry
			if err := json.Unmarshal([]byte(line), &e); err != nil || e.Rev == 0 {
				t.Fatalf("export line %q: %v", line, err)
			}
			if e.Key <= prev {
				t.Fatalf("export not in key order: %q after %q", e.Key, prev)
			}
			prev, got[e.Key] = e.Key, string(e.Value)
		}
		return got, r.stdout
	}
	before, lines := export()
	var b string
	json.Unmarshal([]byte(before["shared/b"]), &b)
	if len(before) != bulk+2 || before["shared/a"] != `{"x":[1,"é"]}` || b != "<tag>&" || before["bulk/02099"] != "2099" {
		t.Fatalf("export has %d entries (want %d): shared/a %s, shared/b %s", len(before), bulk+2, before["shared/a"], before["shared/b"])
	}
	file := filepath.Join(t.TempDir(), "home.jsonl")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}

	run(t, dn.ControlURL(), append(cli, "delete", "home", "shared/a")...)
	run(t, dn.ControlURL(), append(cli, "put", "home", "shared/b", "5")...)
	r := run(t, dn.ControlURL(), append(cli, "import", "home", file, "--if-absent")...)
	if r.code != 0 || !strings.Contains(r.stderr, "imported 1 entries, left 2101 present ones as they were") {
		t.Fatalf("import --if-absent: %+v", r)
	}
	if after, _ := export(); after["shared/a"] != before["shared/a"] || after["shared/b"] != "5" {
		t.Fatalf("after import --if-absent: shared/a %s, shared/b %s", after["shared/a"], after["shared/b"])
	}
	for range 2 { // twice: the second changes nothing
		if r := run(t, dn.ControlURL(), append(cli, "import", "home", file)...); r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("imported %d entries", bulk+2)) {
			t.Fatalf("import: %+v", r)
		}
		after, _ := export()
		for k, v := range before {
			if after[k] != v {
				t.Fatalf("after import %s = %s, want %s", k, after[k], v)
			}
		}
	}

	// A bad line after 1200 good ones: the import stops there, having
	// written the first batch (1000 entries) whole and nothing after it.
	var text strings.Builder
	for i := range 1200 {
		fmt.Fprintf(&text, "{\"key\":\"ok/%04d\",\"value\":%d}\n", i, i)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(text.String()+"not json\n"), 0o600)
	r = run(t, dn.ControlURL(), append(cli, "import", "home", bad)...)
	if r.code != 2 || !strings.Contains(r.stderr, "line 1201 is not a JSON entry") || !strings.Contains(r.stderr, "imported 1000 entries before stopping; running the import again finishes it") {
		t.Fatalf("import of a bad line: %+v", r)
	}
	after, _ := export()
	for i := range 1200 {
		if _, ok := after[fmt.Sprintf("ok/%04d", i)]; ok != (i < 1000) {
			t.Fatalf("after the stopped import, ok/%04d present: %v; want the first batch whole and nothing after", i, ok)
		}
	}
	os.WriteFile(bad, []byte(text.String()), 0o600)
	if r := run(t, dn.ControlURL(), append(cli, "import", "home", bad, "--if-absent")...); r.code != 0 || !strings.Contains(r.stderr, "imported 200 entries, left 1000 present ones as they were") {
		t.Fatalf("the import run again: %+v", r)
	}
}
