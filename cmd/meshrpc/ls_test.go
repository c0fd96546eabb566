package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
)

// Another user's device asks home what it may call: home answers from its
// own rules, and says why.
func TestLsShowsWhatTheCallerMayCallAndWhy(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	serveHome(t, dn.ControlURL(), filepath.Join(t.TempDir(), "home"), "--allow", "self", "--allow", "node:cafe=sys.ping,kv.get")
	cafe := []string{"--hostname", "cafe", "--state-dir", filepath.Join(t.TempDir(), "cafe")}

	r := run(t, dn.ControlURL(), append(cafe, "ls", "home")...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.HasPrefix(lines[1], "kv.get ") || !strings.Contains(lines[1], "key") ||
		!strings.HasPrefix(lines[2], "rpc.allowed ") || !strings.Contains(lines[2], "why?") || !strings.HasPrefix(lines[3], "sys.ping ") {
		t.Fatalf("ls home: %+v", r)
	}

	r = run(t, dn.ControlURL(), append(cafe, "ls", "home", "--why", "--json")...)
	var procs []node.Allowed
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &procs) != nil {
		t.Fatalf("ls --why --json: %+v", r)
	}
	byName := map[string]node.Allowed{}
	for _, p := range procs {
		byName[p.Name] = p
	}
	if p := byName["sys.ping"]; !p.Allowed || p.By != "rule node:cafe=sys.ping,kv.get" {
		t.Errorf("sys.ping: %+v", p)
	}
	if p := byName["kv.put"]; p.Allowed || !strings.Contains(p.Hint, "--allow 'node:cafe=kv.put'") {
		t.Errorf("kv.put: %+v", p)
	}
	if len(procs) < 13 {
		t.Errorf("--why lists %d procedures; want all of them", len(procs))
	}
	r = run(t, dn.ControlURL(), append(cafe, "ls", "home", "--why")...)
	if r.code != 0 || !strings.Contains(r.stdout, "MAY CALL") || !strings.Contains(r.stdout, "kv.put") {
		t.Fatalf("ls --why: %+v", r)
	}
}
