package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
)

// The owner reads the node's audit log, and asks a peer for its stats.
func TestAuditAndStats(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	home := filepath.Join(t.TempDir(), "home")
	serveHome(t, dn.ControlURL(), home, "--allow", "self", "--allow", "node:cafe=kv.get")
	cafe := []string{"--hostname", "cafe", "--state-dir", filepath.Join(t.TempDir(), "cafe")}

	// --follow from the start, to see the calls arrive.
	follow := exec.Command(binary, "--state-dir", home, "audit", "--follow", "--json")
	out, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	run(t, dn.ControlURL(), append(cafe, "kv", "get", "home", "motd")...)
	if r := run(t, dn.ControlURL(), append(cafe, "kv", "put", "home", "motd", "hi")...); r.code != 1 {
		t.Fatalf("kv put by another user: %+v", r)
	}
	seen := map[string]string{}
	for deadline := time.After(20 * time.Second); len(seen) < 2; {
		select {
		case line := <-lines:
			var rec struct{ Method, Key, Outcome, Node string }
			json.Unmarshal([]byte(line), &rec)
			if rec.Node == "cafe" && rec.Key == "motd" {
				seen[rec.Method] = rec.Outcome
			}
		case <-deadline:
			t.Fatalf("audit --follow showed %v", seen)
		}
	}
	if seen["kv.get"] != "ok" || seen["kv.put"] != "denied" {
		t.Fatalf("audit --follow: %v", seen)
	}
	follow.Process.Signal(syscall.SIGINT)
	if err := follow.Wait(); err != nil {
		t.Fatalf("audit --follow after SIGINT: %v", err)
	}

	r := run(t, dn.ControlURL(), "--state-dir", home, "audit")
	if r.code != 0 || !strings.Contains(r.stdout, "kv.put") || !strings.Contains(r.stdout, "denied -32001") || !strings.Contains(r.stdout, "cafe (") {
		t.Fatalf("audit: %+v", r)
	}
	if r := run(t, dn.ControlURL(), "--state-dir", filepath.Join(t.TempDir(), "none"), "audit"); r.code != 1 || !strings.Contains(r.stderr, "no audit log") {
		t.Fatalf("audit without a log: %+v", r)
	}

	// stats through home's own socket (the owner may call sys.stats).
	r = run(t, dn.ControlURL(), "--state-dir", home, "stats", "home", "--json")
	var rep api.StatsReport
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Calls < 2 {
		t.Fatalf("stats --json: %+v", r)
	}
	r = run(t, dn.ControlURL(), "--state-dir", home, "stats", "home")
	if r.code != 0 || !strings.Contains(r.stdout, "METHOD") || !strings.Contains(r.stdout, "kv.put") || !strings.Contains(r.stdout, "cafe") {
		t.Fatalf("stats: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(home, node.AuditLogName)); err != nil {
		t.Fatal(err)
	}
}
