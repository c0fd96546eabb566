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

// runDemo tells the story step by step: a tailnet, home serving on it, the
// café joining, a few calls from the café, then the counter workload.
func runDemo(ctx context.Context, g *globalOptions) error {
	dir, err := os.MkdirTemp("", "meshrpc-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &demo{ctx: ctx, g: g, dir: dir, step: stepper(g.stdout)}

	fmt.Fprintln(g.stdout, "meshrpc demo: a home server and a café laptop on a private tailnet, all on 127.0.0.1")
	dn, err := d.startTailnet()
	if err != nil {
		return err
	}
	defer dn.Close()
	stopHome, err := d.serveHome(dn)
	if err != nil {
		return err
	}
	defer stopHome()
	if err := d.joinCafe(dn); err != nil {
		return err
	}
	defer d.cafe.Close()
	if err := d.firstCalls(); err != nil {
		return err
	}
	if err := d.countTogether(); err != nil {
		return err
	}
	return d.checkCounter()
}

// demo is what the demo's steps share: the café node once it has joined
// calls home.
type demo struct {
	ctx  context.Context
	g    *globalOptions
	dir  string
	step func(t time.Time, what, detail string)
	cafe *node.Client
}

func (d *demo) startTailnet() (*devnet.Net, error) {
	t := time.Now()
	dn, err := devnet.Start(devnet.Config{})
	if err != nil {
		return nil, err
	}
	d.step(t, "local tailnet up (control, DERP, STUN)", dn.ControlURL())
	return dn, nil
}

// serveHome joins home to dn and serves it until the returned stop.
func (d *demo) serveHome(dn *devnet.Net) (stop func(), err error) {
	t := time.Now()
	home, err := node.New(d.ctx, node.Config{
		Hostname: "home", StateDir: filepath.Join(d.dir, "home"), ControlURL: dn.ControlURL(),
		Progress: io.Discard, TailscaleLogf: d.g.tsLogf(),
	})
	if err != nil {
		return nil, unreachableError{err}
	}
	serveCtx, stopServing := context.WithCancel(d.ctx)
	served := make(chan error, 1)
	go func() { served <- home.Serve(serveCtx) }()
	d.step(t, "home joined and serves", home.Addr()+" (store: "+filepath.Join(d.dir, "home", "kv.db")+", fsync on)")
	return func() { stopServing(); <-served }, nil
}

func (d *demo) joinCafe(dn *devnet.Net) error {
	t := time.Now()
	cafe, err := node.Dial(d.ctx, node.ClientConfig{
		Hostname: "cafe", StateDir: filepath.Join(d.dir, "cafe"), ControlURL: dn.ControlURL(),
		Progress: io.Discard, TailscaleLogf: d.g.tsLogf(), NoSocket: true,
	})
	if err != nil {
		return unreachableError{err}
	}
	d.cafe = cafe
	self, _, _ := cafe.Peers(d.ctx)
	d.step(t, "cafe joined", fmt.Sprint(self.Addrs))
	return nil
}

// call calls method on home from the café, prints the step as what with
// the result, and decodes the result into result unless it is nil.
func (d *demo) call(what, method string, params, result any) error {
	t := time.Now()
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	var raw json.RawMessage
	if err := d.cafe.Call(ctx, "home", method, params, &raw); err != nil {
		return callError("home", method, err)
	}
	d.step(t, "cafe -> home "+what, "=> "+oneLine(raw, 70))
	if result != nil {
		return json.Unmarshal(raw, result)
	}
	return nil
}

// firstCalls reads a key, writes it, reads it again, and asks home who it
// is and who the caller is.
func (d *demo) firstCalls() error {
	for _, c := range []struct {
		what, method string
		params       any
	}{
		{`kv.get "a"`, "kv.get", []any{"a"}},
		{`kv.put "a" 10`, "kv.put", []any{"a", 10}},
		{`kv.get "a"`, "kv.get", []any{"a"}},
		{"sys.uname", "sys.uname", nil},
		{"sys.whoami", "sys.whoami", nil},
	} {
		if err := d.call(c.what, c.method, c.params, nil); err != nil {
			return err
		}
	}
	return nil
}

// countTogether runs the original's workload: demoCallers concurrent
// callers, each doing demoRounds x (kv.get + kv.inc) on one counter, and
// prints the rate beside the original's.
func (d *demo) countTogether() error {
	t := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, demoCallers)
	for range demoCallers {
		wg.Go(func() {
			for range demoRounds {
				if err := d.cafe.Call(d.ctx, "home", "kv.get", []any{"hikakin"}, nil); err != nil {
					errs <- err
					return
				}
				if err := d.cafe.Call(d.ctx, "home", "kv.inc", []any{"hikakin"}, nil); err != nil {
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
	rate := float64(demoCallers*demoRounds*2) / time.Since(t).Seconds()
	d.step(t, fmt.Sprintf("%d callers x %d x (kv.get + kv.inc)", demoCallers, demoRounds),
		fmt.Sprintf("%.0f calls/s, %.0fx the BaseManager original's %.0f calls/s", rate, rate/seedRate, seedRate))
	return nil
}

// checkCounter fails unless the counter holds every increment.
func (d *demo) checkCounter() error {
	var count int64
	if err := d.call(`kv.get "hikakin"`, "kv.get", []any{"hikakin"}, &count); err != nil {
		return err
	}
	if count != demoCallers*demoRounds {
		return fmt.Errorf("the counter ended at %d, not %d: increments were lost", count, demoCallers*demoRounds)
	}
	fmt.Fprintf(d.g.stdout, "meshrpc demo: the counter is exactly %d; nothing listened on a host port, no password was used\n", count)
	return nil
}

// stepper prints a step with the time it took since t.
func stepper(w io.Writer) func(t time.Time, what, detail string) {
	return func(t time.Time, what, detail string) {
		fmt.Fprintf(w, "  %-44s %9s  %s\n", what, time.Since(t).Round(10*time.Microsecond), detail)
	}
}
