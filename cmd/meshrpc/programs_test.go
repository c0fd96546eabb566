package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/rpc"
)

// A program on home's machine provides a procedure through `meshrpc
// serve`: ls names the program, call reaches it, and serve logs both its
// coming and its going.
func TestServeOffersAProgramsProcedures(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := filepath.Join(t.TempDir(), "home")
	s := serveHome(t, dn.ControlURL(), dir)

	reg := rpc.NewRegistry()
	rpc.Register(reg, "greet", "Greets whoever is named.", func(ctx context.Context, p struct {
		Name string `json:"name"`
	}) (string, error) {
		return "hello " + p.Name, nil
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Provide(ctx, node.ProviderConfig{Name: "greeter", StateDir: dir}, reg) }()
	home := []string{"--state-dir", dir}
	poll.Until(t, 20*time.Second, func() error {
		if r := run(t, dn.ControlURL(), append(home, "ls", "home")...); !strings.Contains(r.stdout, "greet") {
			return &lsError{r}
		}
		return nil
	})
	r := run(t, dn.ControlURL(), append(home, "ls", "home")...)
	if !strings.Contains(r.stdout, "[program greeter (pid ") {
		t.Errorf("ls does not name the program:\n%s", r.stdout)
	}
	r = run(t, dn.ControlURL(), append(home, "call", "home", "greet", "ann")...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != `"hello ann"` {
		t.Errorf("call home greet ann: %+v", r)
	}
	stop()
	<-done
	poll.Until(t, 10*time.Second, func() error {
		if !strings.Contains(s.stderr.String(), "greet no longer provided") {
			return &lsError{result{stderr: s.stderr.String()}}
		}
		return nil
	})
	if !strings.Contains(s.stderr.String(), "provides greet") {
		t.Errorf("serve's log:\n%s", s.stderr.String())
	}
}

type lsError struct{ r result }

func (e *lsError) Error() string { return "stdout:\n" + e.r.stdout + "\nstderr:\n" + e.r.stderr }
