package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/node"
)

// Demo workload: the original's 5 processes x 1000 x (get + inc).
const (
	demoCallers = 5
	demoRounds  = 1000
	seedRate    = 25.0 // calls/s of the Python BaseManager original on this kind of machine
)

func newCmdDemo(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "The whole story, offline, in one process: a home node and a café node",
		Long: `Run a local tailnet, a "home" node with a durable store and a "cafe" node in
this process, nothing leaving 127.0.0.1. The café calls home's kv.put, kv.get
and sys.uname, then 5 concurrent callers do 1000 x (kv.get + kv.inc) on one
counter, which ends at exactly 5000. Each step's time is printed.`,
		Example: `  meshrpc demo`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), g)
		},
	}
}

func runDemo(ctx context.Context, g *globalOptions) error {
	out := g.stdout
	dir, err := os.MkdirTemp("", "meshrpc-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step := stepper(out)

	fmt.Fprintln(out, "meshrpc demo: a home server and a café laptop on a private tailnet, all on 127.0.0.1")
	t := time.Now()
	dn, err := devnet.Start(devnet.Config{})
	if err != nil {
		return err
	}
	defer dn.Close()
	step(t, "local tailnet up (control, DERP, STUN)", dn.ControlURL())

	t = time.Now()
	home, err := node.New(ctx, node.Config{
		Hostname: "home", StateDir: filepath.Join(dir, "home"), ControlURL: dn.ControlURL(),
		Progress: io.Discard, TailscaleLogf: g.tsLogf(),
	})
	if err != nil {
		return unreachableError{err}
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- home.Serve(serveCtx) }()
	defer func() { stopServing(); <-served }()
	step(t, "home joined and serves", home.Addr()+" (store: "+filepath.Join(dir, "home", "kv.db")+", fsync on)")

	t = time.Now()
	cafe, err := node.Dial(ctx, node.ClientConfig{
		Hostname: "cafe", StateDir: filepath.Join(dir, "cafe"), ControlURL: dn.ControlURL(),
		Progress: io.Discard, TailscaleLogf: g.tsLogf(), NoSocket: true,
	})
	if err != nil {
		return unreachableError{err}
	}
	defer cafe.Close()
	self, _, _ := cafe.Peers(ctx)
	step(t, "cafe joined", fmt.Sprint(self.Addrs))

	call := func(what, method string, params, result any) error {
		t := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var raw json.RawMessage
		if err := cafe.Call(cctx, "home", method, params, &raw); err != nil {
			return callError("home", method, err)
		}
		step(t, "cafe -> home "+what, "=> "+oneLine(raw, 70))
		if result != nil {
			return json.Unmarshal(raw, result)
		}
		return nil
	}
	if err := call(`kv.get "a"`, "kv.get", []any{"a"}, nil); err != nil {
		return err
	}
	if err := call(`kv.put "a" 10`, "kv.put", []any{"a", 10}, nil); err != nil {
		return err
	}
	if err := call(`kv.get "a"`, "kv.get", []any{"a"}, nil); err != nil {
		return err
	}
	if err := call("sys.uname", "sys.uname", nil, nil); err != nil {
		return err
	}
	if err := call("sys.whoami", "sys.whoami", nil, nil); err != nil {
		return err
	}

	t = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, demoCallers)
	for range demoCallers {
		wg.Go(func() {
			for range demoRounds {
				if err := cafe.Call(ctx, "home", "kv.get", []any{"hikakin"}, nil); err != nil {
					errs <- err
					return
				}
				if err := cafe.Call(ctx, "home", "kv.inc", []any{"hikakin"}, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return callError("home", "kv.inc", err)
	}
	elapsed := time.Since(t)
	calls := float64(demoCallers * demoRounds * 2)
	rate := calls / elapsed.Seconds()
	step(t, fmt.Sprintf("%d callers x %d x (kv.get + kv.inc)", demoCallers, demoRounds),
		fmt.Sprintf("%.0f calls/s, %.0fx the BaseManager original's %.0f calls/s", rate, rate/seedRate, seedRate))

	var count int64
	if err := call(`kv.get "hikakin"`, "kv.get", []any{"hikakin"}, &count); err != nil {
		return err
	}
	if count != demoCallers*demoRounds {
		return fmt.Errorf("the counter ended at %d, not %d: increments were lost", count, demoCallers*demoRounds)
	}
	fmt.Fprintf(out, "meshrpc demo: the counter is exactly %d; nothing listened on a host port, no password was used\n", count)
	return nil
}

// stepper prints a step with the time it took since t.
func stepper(w io.Writer) func(t time.Time, what, detail string) {
	return func(t time.Time, what, detail string) {
		fmt.Fprintf(w, "  %-44s %9s  %s\n", what, time.Since(t).Round(10*time.Microsecond), detail)
	}
}
