package realtailnet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a program started for a test, its output going to a log file,
// stopped (SIGTERM, then SIGKILL after 10 s) when the test ends.
type Process struct {
	Log  string // path of the file holding its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done is closed
}

// Start runs argv with env added to the test's environment, writing its
// output to logPath, and stops it at t.Cleanup.
func Start(t testing.TB, logPath string, env []string, argv ...string) *Process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create log for %s: %v", argv[0], err)
	}
	p := &Process{Log: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = logf
	p.cmd.Stderr = logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", argv[0], err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(p.Stop)
	return p
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop ends the process and waits for it. It is idempotent.
func (p *Process) Stop() {
	if done, _ := p.Exited(); done {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Tail is the end of the process's log, for failure messages.
func (p *Process) Tail() string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// run runs a short command (a CLI of the tool) and returns its stdout, or
// an error carrying its stderr.
func run(ctx context.Context, env []string, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%v: %w: %s", redact(argv), err, bytes.TrimSpace(append(stderr.Bytes(), stdout.Bytes()...)))
	}
	return stdout.Bytes(), nil
}

// FreePort returns a port on 127.0.0.1 that nothing listens on now, for
// programs that must be told their port up front. network is "tcp" or "udp".
func FreePort(t testing.TB, network string) int {
	t.Helper()
	var addr net.Addr
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free UDP port: %v", err)
		}
		addr = c.LocalAddr()
		c.Close()
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free TCP port: %v", err)
		}
		addr = ln.Addr()
		ln.Close()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	n, _ := strconv.Atoi(port)
	return n
}

// redact hides auth keys in a command line that goes into a message.
func redact(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if k, _, ok := strings.Cut(a, "="); ok && strings.Contains(k, "authkey") {
			a = k + "=REDACTED"
		}
		out[i] = a
	}
	return out
}
