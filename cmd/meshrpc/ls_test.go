package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node/api"
)

// Another user's device asks home what it may call: home answers from its
// own rules, and says why.
func TestLsShowsWhatTheCallerMayCallAndWhy(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	serveHome(t, dn.ControlURL(), filepath.Join(t.TempDir(), "home"), "--allow", "self", "--allow", "node:cafe=sys.ping,kv.get")
	cafe := []string{"--hostname", "cafe", "--state-dir", filepath.Join(t.TempDir(), "cafe")}

	// What cafe may call: its rule's methods, the store in its personal
	// space (kv.*), rpc.allowed; not sys.uname or rpc.discover.
	r := run(t, dn.ControlURL(), append(cafe, "ls", "home")...)
	names := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		name, rest, _ := strings.Cut(line, " ")
		names[name] = rest
	}
	if r.code != 0 || !strings.HasPrefix(r.stdout, "NAME") || !strings.Contains(names["kv.get"], "key") ||
		!strings.Contains(names["rpc.allowed"], "why?") || names["sys.ping"] == "" || names["kv.put"] == "" {
		t.Fatalf("ls home: %+v", r)
	}
	if _, ok := names["sys.uname"]; ok {
		t.Fatalf("ls lists sys.uname, which cafe may not call: %+v", r)
	}
	// What ls says is what a call finds: kv.put only in cafe's own space.
	if !strings.Contains(names["kv.put"], "[only keys ~/*]") || strings.Contains(names["kv.get"], "only keys") {
		t.Fatalf("ls home does not say kv.put is for cafe's personal space only: %+v", r)
	}

	r = run(t, dn.ControlURL(), append(cafe, "ls", "home", "--why", "--json")...)
	var procs []api.Allowed
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &procs) != nil {
		t.Fatalf("ls --why --json: %+v", r)
	}
	byName := map[string]api.Allowed{}
	for _, p := range procs {
		byName[p.Name] = p
	}
	if p := byName["sys.ping"]; !p.Allowed || p.By != "rule node:cafe=sys.ping,kv.get" {
		t.Errorf("sys.ping: %+v", p)
	}
	if p := byName["kv.put"]; !p.Allowed || !strings.Contains(p.By, "personal space") || len(p.Keys) != 1 || p.Keys[0] != "~/*" {
		t.Errorf("kv.put: %+v", p)
	}
	if p := byName["sys.uname"]; p.Allowed || !strings.Contains(p.Hint, "--allow 'node:cafe=sys.uname'") {
		t.Errorf("sys.uname: %+v", p)
	}
	if len(procs) < 13 {
		t.Errorf("--why lists %d procedures; want all of them", len(procs))
	}
	r = run(t, dn.ControlURL(), append(cafe, "ls", "home", "--why")...)
	if r.code != 0 || !strings.Contains(r.stdout, "MAY CALL") || !strings.Contains(r.stdout, "sys.uname") {
		t.Fatalf("ls --why: %+v", r)
	}
}
