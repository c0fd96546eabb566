package realtailnet_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// A machine that runs Tailscale already calls through its tailscaled: no
// second node, no login, no state directory.
func TestCLICallsThroughTheMachinesTailscaled(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	home := newMeshrpc(t, dn.ControlURL(), "home", "", nil)
	server := home.serve()
	laptop := realtailnet.StartTailscaled(t, realtailnet.TailscaledConfig{ControlURL: dn.ControlURL(), Hostname: "laptop"})
	laptop.WaitPeer(t, "home")

	// A fresh user with no meshrpc state at all.
	stateDir := filepath.Join(t.TempDir(), "never-created")
	cli := &meshrpcAs{t: t, bin: meshrpcBinary(t), env: []string{"XDG_CONFIG_HOME=" + t.TempDir()},
		global: []string{"--control-url", dn.ControlURL(), "--state-dir", stateDir, "--tailscale-socket", laptop.Socket()}}
	cli.waitServing("home", server)

	r := cli.run("status", "--json")
	var st struct {
		Via   string
		Route string
		Self  struct{ Name string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Via != "tailscale" || st.Self.Name != "laptop" {
		t.Fatalf("status: %v", r)
	}
	r = cli.run("call", "home", "sys.whoami", "--json")
	var who struct{ Node string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &who) != nil || who.Node != "laptop" {
		t.Fatalf("whoami through tailscaled: %v", r)
	}
	if r := cli.run("kv", "inc", "home", "visits"); r.code != 0 || strings.TrimSpace(r.stdout) != "1" {
		t.Fatalf("kv inc: %v", r)
	}
	r = cli.run("peers", "--json")
	var peers []struct {
		Name    string
		Meshrpc bool
		Ping    *struct{ Path string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &peers) != nil || len(peers) != 1 || !peers[0].Meshrpc || peers[0].Ping == nil {
		t.Fatalf("peers: %v", r)
	}
	// The figure (not a check): a fresh process's call through tailscaled.
	var took []time.Duration
	for range 10 {
		start := time.Now()
		if r := cli.run("call", "home", "sys.uname"); r.code != 0 {
			t.Fatalf("sys.uname: %v", r)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("meshrpc call home sys.uname through tailscaled, fresh process: median %v (10 runs)", took[len(took)/2])

	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("the state dir was created (%v): calls through tailscaled need none", err)
	}

	// --via tsnet refuses tailscaled; another tailnet's tailscaled is not used.
	if r := cli.run("status", "--via", "tsnet", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"via": "tsnet"`) {
		t.Fatalf("--via tsnet: %v", r)
	}
	other := &meshrpcAs{t: t, bin: cli.bin, env: cli.env,
		global: []string{"--control-url", "http://127.0.0.1:1", "--state-dir", stateDir, "--tailscale-socket", laptop.Socket(), "--via", "tailscale"}}
	if r := other.run("status"); r.code != 3 || !strings.Contains(r.stderr, "tailscaled is on another tailnet") {
		t.Fatalf("tailscaled of another tailnet: %v", r)
	}
}
