package realtailnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// binDir holds the meshrpc binary built for this test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshrpc-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var meshrpcBuild struct {
	once sync.Once
	path string
	err  error
}

// meshrpcBinary builds cmd/meshrpc once per test run, or takes the binary
// named by $MESHRPC_BINARY (to test an installed one). It skips the test
// while the command, or its serve and call, do not exist yet.
func meshrpcBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MESHRPC_BINARY"); p != "" {
		return p
	}
	if m, _ := filepath.Glob("../../cmd/meshrpc/*.go"); len(m) == 0 {
		t.Skip("cmd/meshrpc has no Go files yet")
	}
	b := &meshrpcBuild
	b.once.Do(func() {
		b.path = filepath.Join(binDir, "meshrpc")
		cmd := exec.Command("go", "build", "-o", b.path, "github.com/meshrpc/meshrpc/cmd/meshrpc")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/meshrpc: %w\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	for _, cmd := range []string{"serve", "call"} {
		if err := exec.Command(b.path, cmd, "--help").Run(); err != nil {
			t.Skipf("meshrpc has no %s command yet (%v)", cmd, err)
		}
	}
	return b.path
}

// meshrpcAs runs the meshrpc binary as one tailnet node: its own hostname
// and state directory, joined to controlURL with key.
type meshrpcAs struct {
	t        *testing.T
	bin      string
	hostname string
	stateDir string
	global   []string
	env      []string
}

// newMeshrpc prepares the command line of node hostname on the tailnet at
// controlURL. env is added to the environment (Headscale.ClientEnv).
func newMeshrpc(t *testing.T, controlURL, hostname, key string, env []string) *meshrpcAs {
	t.Helper()
	m := &meshrpcAs{
		t:        t,
		bin:      meshrpcBinary(t),
		hostname: hostname,
		stateDir: filepath.Join(t.TempDir(), hostname),
		env:      append([]string{"XDG_CONFIG_HOME=" + t.TempDir()}, env...),
	}
	m.global = []string{"--control-url", controlURL, "--hostname", hostname, "--state-dir", m.stateDir}
	if key != "" {
		m.global = append(m.global, "--authkey", key)
	}
	return m
}

// serve starts `meshrpc serve` with args until the test ends. Its output
// goes to serve.log beside its state directory.
func (m *meshrpcAs) serve(args ...string) *realtailnet.Process {
	m.t.Helper()
	argv := append([]string{m.bin, "serve"}, m.global...)
	argv = append(argv, "--data", m.stateDir+".db")
	argv = append(argv, args...)
	return realtailnet.Start(m.t, m.stateDir+"-serve.log", m.env, argv...)
}

// result is what one run of the CLI did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// run runs one meshrpc command (a fresh process, as a person types it).
func (m *meshrpcAs) run(args ...string) result {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append(append([]string{}, args...), m.global...)
	cmd := exec.CommandContext(ctx, m.bin, argv...)
	cmd.Env = append(os.Environ(), m.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		m.t.Fatalf("run meshrpc %v: %v", args, err)
	}
	return r
}

// waitServing calls sys.ping on peer until it answers, so that the test
// starts once the node has joined and serves.
func (m *meshrpcAs) waitServing(peer string, server *realtailnet.Process) {
	m.t.Helper()
	poll.Until(m.t, time.Minute, func() error {
		r := m.run("call", peer, "sys.ping")
		if r.code == 0 {
			return nil
		}
		if exited, err := server.Exited(); exited {
			m.t.Fatalf("meshrpc serve on %s exited (%v):\n%s", peer, err, server.Tail())
		}
		return fmt.Errorf("%s cannot call sys.ping on %s: %v\nthe server's log:\n%s", m.hostname, peer, r, server.Tail())
	})
}
