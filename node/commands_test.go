package node_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/command"
	"github.com/meshrpc/meshrpc/rpc"

	"path/filepath"
)

var printArgs = command.Spec{
	Name:   "print",
	Argv:   []string{"printf", "[%s]\n", "{text}", "{more}"},
	Params: []command.Param{{Name: "text"}, {Name: "more", Optional: true}},
	Allow:  []string{"node:stranger"},
}

// A program served as a procedure, called by another user's node over the
// tailnet: the procedure's own rule lets it in, for that procedure only, and
// hostile-looking params arrive as plain arguments.
func TestCommandProcedureOverTheTailnet(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true, Commands: []command.Spec{
		printArgs,
		{Name: "uptime", Argv: []string{"uptime"}},
	}})
	stranger := dialAs(t, dn, "stranger")
	ctx := context.Background()
	text := `it's "quoted"; $(touch /tmp/pwned) && echo -rf`
	var res command.Result
	if err := stranger.Call(ctx, "home", "print", map[string]string{"text": text, "more": "--help"}, &res); err != nil {
		t.Fatal(err)
	}
	if want := "[" + text + "]\n[--help]\n"; res.Stdout != want || res.ExitCode != 0 {
		t.Fatalf("got %+v, want stdout %q", res, want)
	}
	for _, method := range []string{"uptime", "sys.ping"} {
		if err := stranger.Call(ctx, "home", method, nil, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
			t.Errorf("%s, which no rule allows the stranger: %v", method, err)
		}
	}
}

// Reconfigure swaps command procedures while one of them runs: the running
// call finishes, the new set serves, and a bad configuration changes nothing.
func TestReconfigureKeepsCallsAndRefusesBadConfig(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	// slow tells the test it runs (by opening the FIFO started) and waits
	// for the test to let it finish (by writing a line to the FIFO finish).
	started, finish := fifo(t, "started"), fifo(t, "finish")
	home := startNode(t, dn, node.Config{Hostname: "home", InMemory: true, Commands: []command.Spec{
		{Name: "slow", Argv: []string{"sh", "-c", `: >"$0"; read line <"$1"; echo done`, started, finish}},
	}})
	cafe := dialAs(t, dn, "cafe")
	ctx := context.Background()

	slow := make(chan error, 1)
	var slowRes command.Result
	go func() { slow <- cafe.Call(ctx, "home", "slow", nil, &slowRes) }()
	openFIFO(t, started, os.O_RDONLY, slow).Close()
	if err := home.Reconfigure(nil, []command.Spec{printArgs}); err != nil {
		t.Fatal(err)
	}
	w := openFIFO(t, finish, os.O_WRONLY, slow)
	fmt.Fprintln(w, "finish")
	w.Close()
	if err := <-slow; err != nil || slowRes.Stdout != "done\n" {
		t.Fatalf("the call running during the reload: %+v %v", slowRes, err)
	}
	var res command.Result
	if err := cafe.Call(ctx, "home", "print", []string{"x"}, &res); err != nil || res.Stdout != "[x]\n" {
		t.Fatalf("new procedure: %+v %v", res, err)
	}
	if err := cafe.Call(ctx, "home", "slow", nil, nil); rpc.CodeOf(err) != rpc.CodeMethodNotFound {
		t.Fatalf("removed procedure: %v", err)
	}

	for _, bad := range [][]command.Spec{
		{{Name: "x", Argv: []string{"no-such-program"}}},
		{{Name: "sys.ping", Argv: []string{"true"}}},
		{{Name: "x", Argv: []string{"true"}}, {Name: "x", Argv: []string{"true"}}},
	} {
		if err := home.Reconfigure(nil, bad); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
	if err := home.Reconfigure([]string{"bogus"}, nil); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("bad rule: %v", err)
	}
	if err := cafe.Call(ctx, "home", "print", []string{"still"}, &res); err != nil || res.Stdout != "[still]\n" {
		t.Fatalf("after bad reloads: %+v %v", res, err)
	}
	var pong string
	if err := cafe.Call(ctx, "home", "sys.ping", nil, &pong); err != nil || pong != "pong" {
		t.Fatalf("the built-in sys.ping after a reload that tried to take its name: %q %v", pong, err)
	}
}

// fifo makes a named pipe called name in a temporary directory and returns
// its path: opening one end waits for the other, so a program that opens it
// tells the test where it has got to.
func fifo(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openFIFO opens path with flag, which waits until the program under test
// opens its other end; if the program's call ends first (its error arrives
// on ended), the test fails instead of waiting for ever.
func openFIFO(t *testing.T, path string, flag int, ended <-chan error) *os.File {
	t.Helper()
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			t.Error(err)
		}
		opened <- f
	}()
	select {
	case f := <-opened:
		if f == nil {
			t.FailNow()
		}
		return f
	case err := <-ended:
		t.Fatalf("the call ended before the program opened %s: %v", path, err)
		return nil
	}
}
