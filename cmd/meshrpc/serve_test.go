package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node/command"
	"github.com/meshrpc/meshrpc/rpc"
)

const greetConfig = `{
	// A program as a procedure.
	"procedures": [
		{
			"name": "greet",
			"argv": ["printf", "hello %s\n", "{name}"],
			"params": [{"name": "name"}],
		},
		// Leaves a daemon that left its process group and cleared its
		// environment, and prints its pid.
		{
			"name": "daemon",
			"argv": ["sh", "-c", "pid=$(env -i setsid -f sh -c 'echo $$; exec sleep 601 >/dev/null 2>&1 </dev/null'); echo $pid"],
		},
	],
}
`

func TestServeProgramsFromConfigAndExpose(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := t.TempDir()
	config := filepath.Join(dir, "serve.hujson")
	os.WriteFile(config, []byte(greetConfig), 0o644)
	state := filepath.Join(dir, "home")
	home := serveHome(t, dn.ControlURL(), state, "--config", config,
		"--expose", "words=printf [%s] {a} {b}", "--expose", "fail=sh -c 'echo oops >&2; exit 3'")
	call := func(args ...string) result {
		return run(t, dn.ControlURL(), append([]string{"--state-dir", state, "call", "home"}, args...)...)
	}

	// Params reach the program as whole, literal arguments.
	r := call("greet", "name=Bob; rm -rf / $(id) 'x'", "--raw")
	if r.code != 0 || r.stdout != "hello Bob; rm -rf / $(id) 'x'\n" {
		t.Fatalf("greet: %+v", r)
	}
	r = call("words", "--json", "--", "-rf", "a b") // after --, dashes are arguments
	var res command.Result
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil || res.Stdout != "[-rf][a b]" || res.ExitCode != 0 {
		t.Fatalf("words: %+v", r)
	}
	// A failing program: its output as printed, and exit status 1.
	r = call("fail", "--raw")
	if r.code != 1 || r.stderr != "oops\nmeshrpc: fail on home: exit status 3\n" {
		t.Fatalf("fail: %+v", r)
	}

	// What a program leaves running ends with the call, even a daemon
	// that cleared its environment (serve adopts orphans, on Linux).
	if r = call("daemon", "--raw"); r.code != 0 {
		t.Fatalf("daemon: %+v", r)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(r.stdout)); err != nil {
		t.Fatalf("daemon printed %q", r.stdout)
	} else if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the daemon is left after its call: %s", stat)
	}

	// A good reload: greet goes, hello comes; the --expose procedures stay.
	os.WriteFile(config, []byte(strings.ReplaceAll(greetConfig, `"greet"`, `"hello"`)), 0o644)
	home.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, home, "meshrpc: reloaded "+config)
	if r := call("hello", "Ann", "--raw"); r.code != 0 || r.stdout != "hello Ann\n" {
		t.Fatalf("hello after reload: %+v", r)
	}
	if r := call("greet", "Ann"); r.code != 1 || !strings.Contains(r.stderr, "method not found") {
		t.Fatalf("greet after reload: %+v", r)
	}
	if r := call("words", "x", "y", "--raw"); r.code != 0 || r.stdout != "[x][y]" {
		t.Fatalf("words after reload: %+v", r)
	}

	// A bad reload names the line and changes nothing.
	os.WriteFile(config, []byte(strings.Replace(greetConfig, `"printf"`, `"no-such-program"`, 1)), 0o644)
	home.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, home, "reload failed, still serving the previous config: "+config+":6: procedure \"greet\": argv[0]: program \"no-such-program\" not found")
	if r := call("hello", "Ann", "--raw"); r.code != 0 || r.stdout != "hello Ann\n" {
		t.Fatalf("hello after a bad reload: %+v", r)
	}
}

func waitFor(t *testing.T, s *served, text string) {
	t.Helper()
	poll.Until(t, 20*time.Second, func() error {
		if !strings.Contains(s.stderr.String(), text) {
			return fmt.Errorf("serve did not print %q; stderr:\n%s", text, s.stderr.String())
		}
		return nil
	})
}

// A bad config file or --expose stops serve before it joins, exit status 2.
func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "serve.hujson")
	os.WriteFile(config, []byte(strings.Replace(greetConfig, `"{name}"`, `"--name={name}"`, 1)), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", config}, config + `:6: procedure "greet": argv[2]: "--name={name}" splices a param`},
		{[]string{"--expose", "x=ls | wc -l"}, "| at offset 3 means something to a shell"},
		{[]string{"--expose", "uptime"}, "want NAME=COMMAND"},
	} {
		r := run(t, "http://127.0.0.1:1", append([]string{"--state-dir", filepath.Join(dir, "s"), "serve"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("serve %q: %+v\nwant exit 2 and %q", tc.args, r, tc.want)
		}
	}
}

// TestServeStopsWhilePeersHoldStreams: SIGTERM stops serve within 15 s even
// while a peer holds a hundred streams whose replies it never reads (their
// windows full, so the node can neither answer nor say goodbye on them).
func TestServeStopsWhilePeersHoldStreams(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	state := filepath.Join(t.TempDir(), "home")
	logsOnFailure(t, state)
	s := serveHome(t, dn.ControlURL(), state)
	flood := meshtest.Join(t, dn, mesh.Config{Hostname: "flood"})
	home := peerAddr(t, flood, "home")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c := rpc.NewClient(rpc.ClientConfig{Addr: home + ":4343", Dial: flood.Dial})
	defer c.Close()
	if err := c.Call(ctx, "kv.put", blob(512<<10), nil); err != nil {
		t.Fatal(err)
	}
	get := []byte(`{"jsonrpc":"2.0","id":1,"method":"kv.get","params":{"key":"` + blob(512<<10).Key + `"}}`)
	hc := &http.Client{Transport: &http.Transport{DialContext: flood.Dial}}
	for range 100 {
		conn, _, err := websocket.Dial(ctx, "ws://"+home+":4343/rpc", &websocket.DialOptions{HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		for range 8 {
			if err := conn.Write(ctx, websocket.MessageText, get); err != nil {
				t.Fatal(err)
			}
		}
	}
	took := s.stop(t, 20*time.Second)
	t.Logf("serve stopped %v after SIGTERM", took.Round(time.Millisecond))
	if took > stopTimeout+time.Second {
		t.Errorf("serve took %v to stop, more than its bound of %v", took, stopTimeout)
	}
}
