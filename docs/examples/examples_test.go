// Package examples_test builds the ported seed programs and runs them
// against a local tailnet: the home server, then the café client.
package examples_test

import (
	"bytes"
	"context"
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
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func TestSeedProgramsPortedToGo(t *testing.T) {
	dir := t.TempDir()
	home := build(t, dir, "./home")
	cafe := build(t, dir, "./cafe")
	dn := meshtest.Net(t, devnet.Config{})

	// The library takes the devnet and the state directory from the same
	// environment variables as the CLI: the programs have no flags for them.
	server := exec.Command(home)
	server.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+dn.ControlURL(), "MESHRPC_STATE_DIR="+filepath.Join(dir, "home-state"))
	serverLog := new(lockedBuffer)
	server.Stderr = serverLog
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Process.Signal(syscall.SIGTERM)
		server.Wait()
	}()
	poll.Until(t, 60*time.Second, func() error {
		if !strings.Contains(serverLog.String(), "home serves get, get_uname, inc, put on") {
			return fmt.Errorf("home did not start:\n%s", serverLog.String())
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := exec.CommandContext(ctx, cafe)
	client.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+dn.ControlURL(), "MESHRPC_STATE_DIR="+filepath.Join(dir, "cafe-state"), "MESHRPC_HOSTNAME=cafe")
	out, err := client.CombinedOutput()
	if err != nil {
		t.Fatalf("cafe: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "hikakin 5000") {
		t.Errorf("cafe's output lacks the count of 5000:\n%s", out)
	}
	// The examples stay as short as the seed's Python (about 20 lines
	// each), counted without blank and comment lines.
	for file, limit := range map[string]int{"home/main.go": 20, "cafe/main.go": 20} {
		if n := codeLines(t, file); n > limit {
			t.Errorf("%s has %d lines of code; keep it at most %d", file, n, limit)
		}
	}
}

// codeLines counts a file's lines that are neither blank nor comments.
func codeLines(t *testing.T, file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "//") {
			n++
		}
	}
	return n
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
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

// TestSeedProgramsInPython runs the seed's two programs written with the
// stdlib-only Python module, as deployed: two `meshrpc serve` processes on
// a devnet, home.py providing get, put, inc and get_uname through one,
// cafe.py calling them through the other with five processes of 1000
// get + inc each.
func TestSeedProgramsInPython(t *testing.T) {
	python := needPython(t)
	dir := t.TempDir()
	meshrpc := build(t, dir, "github.com/meshrpc/meshrpc/cmd/meshrpc")
	dn := meshtest.Net(t, devnet.Config{})
	serve(t, meshrpc, dn, "home", filepath.Join(dir, "home"))
	serve(t, meshrpc, dn, "laptop", filepath.Join(dir, "laptop"))

	server := exec.Command(python, "python/home.py")
	server.Env = append(os.Environ(), "MESHRPC_STATE_DIR="+filepath.Join(dir, "home"), "PYTHONDONTWRITEBYTECODE=1")
	serverLog := new(lockedBuffer)
	server.Stderr = serverLog
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Process.Kill()
		server.Wait()
	}()
	poll.Until(t, 30*time.Second, func() error {
		if !strings.Contains(serverLog.String(), "home provides get, put, inc, get_uname") {
			return fmt.Errorf("home.py provides nothing yet:\n%s", serverLog.String())
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := exec.CommandContext(ctx, python, "python/cafe.py", "home")
	client.Env = append(os.Environ(), "MESHRPC_STATE_DIR="+filepath.Join(dir, "laptop"), "PYTHONDONTWRITEBYTECODE=1")
	start := time.Now()
	out, err := client.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("cafe.py: %v\n%s\nhome.py:\n%s", err, out, serverLog.String())
	}
	for _, want := range []string{"get None put None get 10", "get_uname Linux", "hikakin 5000"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cafe.py's output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("cafe.py: 10,005 calls in %v (%.0f calls/s, with Python's start)", elapsed, 10005/elapsed.Seconds())
}

// serve runs `meshrpc serve` as hostname until the test ends.
func serve(t *testing.T, meshrpc string, dn *devnet.Net, hostname, stateDir string) (stop func()) {
	t.Helper()
	cmd := exec.Command(meshrpc, "--hostname", hostname, "--state-dir", stateDir, "serve")
	cmd.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+dn.ControlURL())
	log := new(lockedBuffer)
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	poll.Until(t, 60*time.Second, func() error {
		if !strings.Contains(log.String(), "procedures on") {
			return fmt.Errorf("%s did not start:\n%s", hostname, log.String())
		}
		return nil
	})
	return stop
}

// TestPythonProviderOutlivesItsNode: a program that provides through
// `meshrpc serve` provides again when the node restarts.
func TestPythonProviderOutlivesItsNode(t *testing.T) {
	python := needPython(t)
	dir := t.TempDir()
	meshrpc := build(t, dir, "github.com/meshrpc/meshrpc/cmd/meshrpc")
	dn := meshtest.Net(t, devnet.Config{})
	home := filepath.Join(dir, "home")
	stop := serve(t, meshrpc, dn, "home", home)

	program := exec.Command(python, "-c", "import meshrpc\ndef hello(name): return 'hello ' + name\nmeshrpc.provide(hello)")
	program.Dir = "python"
	program.Env = append(os.Environ(), "MESHRPC_STATE_DIR="+home, "PYTHONDONTWRITEBYTECODE=1")
	log := new(lockedBuffer)
	program.Stderr = log
	if err := program.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		program.Process.Kill()
		program.Wait()
	}()
	provides := func(times int) {
		poll.Until(t, 30*time.Second, func() error {
			if n := strings.Count(log.String(), "provides hello"); n < times {
				return fmt.Errorf("the program provided %d times, not %d:\n%s", n, times, log.String())
			}
			return nil
		})
	}
	provides(1)
	stop()
	serve(t, meshrpc, dn, "home", home)
	provides(2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call := exec.CommandContext(ctx, meshrpc, "--state-dir", home, "call", "home", "hello", "ann")
	call.Env = append(os.Environ(), "MESHRPC_CONTROL_URL="+dn.ControlURL())
	if out, err := call.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != `"hello ann"` {
		t.Fatalf("call home hello ann after the restart: %v\n%s", err, out)
	}
}

// TestPythonModule runs meshrpc.py's own tests (test_meshrpc.py) against a
// `meshrpc serve` on a devnet.
func TestPythonModule(t *testing.T) {
	python := needPython(t)
	dir := t.TempDir()
	meshrpc := build(t, dir, "github.com/meshrpc/meshrpc/cmd/meshrpc")
	dn := meshtest.Net(t, devnet.Config{})
	serve(t, meshrpc, dn, "home", filepath.Join(dir, "home"))
	// A second node: on a tailnet of one, a name no node has is left to
	// the dial, which waits for the node to appear.
	serve(t, meshrpc, dn, "laptop", filepath.Join(dir, "laptop"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-m", "unittest", "-v", "test_meshrpc")
	cmd.Dir = "python"
	cmd.Env = append(os.Environ(), "MESHRPC_STATE_DIR="+filepath.Join(dir, "home"), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 -m unittest test_meshrpc: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// needPython returns python3's path, or skips the test where there is none
// (CI installs it: there the test fails instead).
func needPython(t *testing.T) string {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is not installed; .ci/run installs it")
		}
		t.Skip("no python3")
	}
	return python
}
