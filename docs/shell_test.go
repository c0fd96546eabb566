package docs_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// A shell is one bash that runs the blocks in turn, as a person at a
// terminal would, so that exports and background jobs carry over.
type shell struct {
	dir, home string
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	done      *bufio.Scanner // one line per block that ran to its end
	exited    chan struct{}  // closed when bash has ended, with exitErr
	exitErr   error
	n         int
}

func startShell(t *testing.T, dir string) *shell {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	ts := filepath.Join(home, "ts")
	if err := os.MkdirAll(ts, 0o700); err != nil {
		t.Fatal(err)
	}
	// The tutorial's "not run" block builds these; CI has them already.
	for _, tool := range []realtailnet.Tool{realtailnet.TailscaledTool, realtailnet.TailscaleTool} {
		if err := os.Symlink(realtailnet.Binary(t, tool), filepath.Join(ts, tool.Name)); err != nil {
			t.Fatal(err)
		}
	}
	doneR, doneW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sh := &shell{dir: dir, home: home, done: bufio.NewScanner(doneR), exited: make(chan struct{})}
	sh.cmd = exec.Command("bash", "--norc", "--noprofile")
	sh.cmd.Dir = dir
	sh.cmd.Env = shellEnv(t, home)
	sh.cmd.ExtraFiles = []*os.File{doneW} // fd 3
	sh.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if sh.stdin, err = sh.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sh.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	doneW.Close()
	go func() { sh.exitErr = sh.cmd.Wait(); close(sh.exited) }()
	t.Cleanup(func() {
		// The shell and everything it started in the background.
		syscall.Kill(-sh.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-sh.exited:
		case <-time.After(10 * time.Second):
		}
		syscall.Kill(-sh.cmd.Process.Pid, syscall.SIGKILL)
		doneR.Close()
	})
	fmt.Fprintln(sh.stdin, "set -e -x")
	return sh
}

// shellEnv is this process's environment for a newcomer: HOME elsewhere, no
// meshrpc settings, but Go's caches where they are, so that builds are warm.
func shellEnv(t *testing.T, home string) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	goenv := strings.Fields(string(out))
	env := []string{"HOME=" + home, "GOCACHE=" + goenv[0], "GOMODCACHE=" + goenv[1], "GOPATH=" + goenv[2]}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "HOME", name == "GOCACHE", name == "GOMODCACHE", name == "GOPATH",
			name == "XDG_CONFIG_HOME", name == "TS_AUTHKEY",
			strings.HasPrefix(name, "MESHRPC_"), strings.HasPrefix(name, "TS_"):
		default:
			env = append(env, kv)
		}
	}
	return env
}

func (sh *shell) writeFile(t *testing.T, b block) {
	t.Helper()
	path := filepath.Join(sh.dir, b.file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs b's commands in the shell and returns their output (with the
// shell's trace), failing the test with both when a command fails or the
// block takes longer than blockTimeout.
func (sh *shell) run(t *testing.T, b block) string {
	t.Helper()
	sh.n++
	script := filepath.Join(sh.home, fmt.Sprintf(".block%d.sh", sh.n))
	outPath := filepath.Join(sh.home, fmt.Sprintf(".block%d.out", sh.n))
	if err := os.WriteFile(script, []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(sh.stdin, "exec >%q 2>&1\nsource %q\necho %d >&3\n", outPath, script, sh.n)
	ended := make(chan bool, 1)
	go func() { ended <- sh.done.Scan() }()
	output := func() string {
		b, _ := os.ReadFile(outPath)
		return string(b)
	}
	start := time.Now()
	failed := func() {
		<-sh.exited
		t.Fatalf("%s:%d: a command failed (%v)\ncommands:\n%s\noutput:\n%s", b.page, b.line, sh.exitErr, b.text, output())
	}
	select {
	case ok := <-ended:
		if !ok {
			failed()
		}
	case <-sh.exited:
		failed()
	case <-time.After(blockTimeout):
		t.Fatalf("%s:%d: not done after %v\ncommands:\n%s\noutput so far:\n%s", b.page, b.line, blockTimeout, b.text, output())
	}
	t.Logf("%s:%d: %v", b.page, b.line, time.Since(start).Round(time.Millisecond))
	return string(bytes.TrimSpace([]byte(output())))
}
