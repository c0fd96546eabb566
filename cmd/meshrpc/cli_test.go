package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
)

// binary is the meshrpc command built once for the tests.
var binary string

func TestMain(m *testing.M) {
	if os.Getenv(floorEnv) != "" {
		runFloor() // BenchmarkDeployed's raw peer, in a process of its own
		return
	}
	if dir := os.Getenv(providerEnv); dir != "" {
		runProvider(dir) // BenchmarkDeployed's program on home's machine
		return
	}
	if sock := os.Getenv(echoEnv); sock != "" {
		runEcho(sock) // BenchmarkDeployed's floor of a socket hop
		return
	}
	dir, err := os.MkdirTemp("", "meshrpc-cli-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "meshrpc")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs meshrpc with args against the devnet at controlURL.
func run(t *testing.T, controlURL string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+controlURL, "HOME="+t.TempDir(), "XDG_CONFIG_HOME=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// lockedBuffer is a bytes.Buffer that a process writes while a test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// served is a running `meshrpc serve`.
type served struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan error // receives Wait's result once
	ended  bool       // stop has seen it end
}

// stop sends SIGTERM and returns how long serve took to exit, failing the
// test if it did not within limit.
func (s *served) stop(t testing.TB, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.ended = true
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM; stderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(limit):
		s.cmd.Process.Kill()
		t.Fatalf("serve did not stop within %v of SIGTERM; stderr:\n%s", limit, s.stderr.String())
	}
	return time.Since(start)
}

// serveHome runs `meshrpc serve` as "home" and waits until its socket
// answers; the process is stopped with SIGTERM at the end of the test.
func serveHome(t testing.TB, controlURL, stateDir string, extra ...string) *served {
	t.Helper()
	args := append([]string{"--hostname", "home", "--state-dir", stateDir, "serve"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+controlURL)
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s := &served{cmd: cmd, stderr: errb, exited: exited}
	t.Cleanup(func() {
		if !s.ended {
			s.stop(t, 20*time.Second)
		}
	})
	sock := filepath.Join(stateDir, node.SocketName)
	poll.Until(t, 60*time.Second, func() error {
		select {
		case err := <-exited:
			t.Fatalf("serve exited: %v\n%s", err, errb.String())
		default:
		}
		if _, err := os.Stat(sock); err != nil {
			return fmt.Errorf("serve did not start; stderr:\n%s", errb.String())
		}
		return nil
	})
	return s
}

// logsOnFailure prints the tail of each state dir's tsnet log when the test
// fails: a stalled call is explained there, if anywhere.
func logsOnFailure(t *testing.T, stateDirs ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, dir := range stateDirs {
			b, _ := os.ReadFile(filepath.Join(dir, mesh.LogFileName))
			lines := strings.Split(string(b), "\n")
			t.Logf("last lines of %s:\n%s", filepath.Join(dir, mesh.LogFileName), strings.Join(lines[max(0, len(lines)-150):], "\n"))
		}
	})
}

func TestServeAndCall(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	homeState := filepath.Join(t.TempDir(), "home")
	cafeState := filepath.Join(t.TempDir(), "cafe")
	logsOnFailure(t, homeState, cafeState)
	serveHome(t, dn.ControlURL(), homeState)
	cafe := []string{"--hostname", "cafe", "--state-dir", cafeState}

	r := run(t, dn.ControlURL(), append(cafe, "call", "home", "sys.ping", "--raw")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "pong" {
		t.Fatalf("call sys.ping: %+v", r)
	}
	if r := run(t, dn.ControlURL(), append(cafe, "kv", "put", "home", "greeting", "hello")...); r.code != 0 {
		t.Fatalf("kv put: %+v", r)
	}
	if r := run(t, dn.ControlURL(), append(cafe, "kv", "get", "home", "greeting")...); r.code != 0 || strings.TrimSpace(r.stdout) != `"hello"` {
		t.Fatalf("kv get: %+v", r)
	}
	if r := run(t, dn.ControlURL(), append(cafe, "call", "home", "kv.inc", "key=visits", "delta=5")...); strings.TrimSpace(r.stdout) != "5" {
		t.Fatalf("call with key=value params: %+v", r)
	}
	if r := run(t, dn.ControlURL(), append(cafe, "kv", "inc", "home", "visits")...); strings.TrimSpace(r.stdout) != "6" {
		t.Fatalf("kv inc: %+v", r)
	}
	// A name no node has fails at once, plainly, with the look-alike.
	r = run(t, dn.ControlURL(), append(cafe, "call", "hmoe", "sys.ping")...)
	if r.code != 3 || !strings.Contains(r.stderr, `no node named "hmoe" on the tailnet; did you mean home?`) || strings.Contains(r.stderr, "online and running") {
		t.Fatalf("call to a misspelt node: %+v", r)
	}
	r = run(t, dn.ControlURL(), append(cafe, "whoami", "home", "--json")...)
	var who struct{ Node, Login string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &who) != nil || who.Node != "cafe" || who.Login == "" {
		t.Fatalf("whoami home: %+v", r)
	}
	r = run(t, dn.ControlURL(), append(cafe, "uname", "home")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Linux") {
		t.Fatalf("uname: %+v", r)
	}
	r = run(t, dn.ControlURL(), append(cafe, "peers", "--json")...)
	var peers []struct {
		Name    string `json:"name"`
		Meshrpc bool   `json:"meshrpc"`
		Methods int    `json:"methods"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &peers) != nil || len(peers) != 1 || peers[0].Name != "home" || !peers[0].Meshrpc || peers[0].Methods == 0 {
		t.Fatalf("peers --json: %+v", r)
	}
	r = run(t, dn.ControlURL(), append(cafe, "call", "--all", "sys.ping", "--json")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"peer": "home"`) {
		t.Fatalf("call --all: %+v", r)
	}
	// Several peers, one of them not there: a row each, exit 1.
	r = run(t, dn.ControlURL(), append(cafe, "call", "home,nowhere", "sys.ping", "--timeout", "3s")...)
	if r.code != 1 || !strings.Contains(r.stdout, "home") || !strings.Contains(r.stdout, "nowhere") {
		t.Fatalf("call home,nowhere: %+v", r)
	}
}

func TestCallThroughTheLocalSocket(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	homeState := filepath.Join(t.TempDir(), "home")
	serveHome(t, dn.ControlURL(), homeState)
	// The same state dir as the serving node: the CLI goes through its socket,
	// to the node itself as well as to others.
	r := run(t, dn.ControlURL(), "--state-dir", homeState, "--verbose", "call", "home", "sys.whoami", "--json")
	var who struct{ Node string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &who) != nil || who.Node != "home" {
		t.Fatalf("call through the socket: %+v", r)
	}
	if !strings.Contains(r.stderr, "reaching the tailnet through the serving node's socket "+filepath.Join(homeState, node.SocketName)) {
		t.Fatalf("the CLI did not use the serving node's socket: %s", r.stderr)
	}
	fi, err := os.Stat(filepath.Join(homeState, node.SocketName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
}

func TestExitCodes(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	homeState := filepath.Join(t.TempDir(), "home")
	serveHome(t, dn.ControlURL(), homeState)
	cafe := []string{"--hostname", "cafe", "--state-dir", filepath.Join(t.TempDir(), "cafe")}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"call", "--nope"}, 2, "unknown flag"},
		{"unknown command", []string{"nosuchcmd"}, 2, `unknown command "nosuchcmd"`},
		{"missing args", []string{"call", "home"}, 2, "at least 2"},
		{"bad --params", []string{"call", "home", "sys.ping", "--params", `{"a": 1,,}`}, 2, `not valid JSON: invalid character ',' looking for beginning of object key string at byte 9, after '{"a": 1,'`},
		{"unknown method", append(cafe, "call", "home", "no.such"), 1, "meshrpc ls home lists the ones you may call"},
		{"wrong param type", append(cafe, "call", "home", "kv.inc", "key=k", `delta="x"`), 1, "must be an integer"},
		{"unreachable peer", append(cafe, "call", "nosuchpeer", "sys.ping", "--timeout", "3s"), 3, "nosuchpeer"},
		{"bad allow rule", []string{"--state-dir", filepath.Join(t.TempDir(), "x"), "serve", "--allow", "group:x"}, 2, "unknown principal kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, dn.ControlURL(), tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	r := run(t, "", "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "the counter is exactly 5000") {
		t.Fatalf("demo: %+v", r)
	}
}
