package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/mesh/devnet"
)

type devnetOptions struct {
	*globalOptions
	listen        string
	separateUsers bool
}

func newCmdDevnet(g *globalOptions) *cobra.Command {
	opts := &devnetOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local tailnet on 127.0.0.1 until interrupted",
		Long: `Run a whole tailnet on this machine: Tailscale's coordination test server, a
DERP relay and a STUN server, all on 127.0.0.1. Nodes started in other shells
with its control URL join it; nothing leaves this machine. For trying meshrpc
without an account; it keeps nothing when it stops.`,
		Example: `  meshrpc devnet --listen 127.0.0.1:9911
  # in other shells:
  export MESHRPC_CONTROL_URL=http://127.0.0.1:9911
  meshrpc --hostname home --state-dir /tmp/home serve &
  meshrpc --hostname cafe --state-dir /tmp/cafe uname home`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDevnet(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.listen, "listen", "127.0.0.1:0", "address of the control server (loopback only)")
	cmd.Flags().BoolVar(&opts.separateUsers, "separate-users", false, "give every node a user of its own (default: one user, like one person's devices)")
	return cmd
}

func runDevnet(ctx context.Context, opts *devnetOptions) error {
	dn, err := devnet.Start(devnet.Config{Listen: opts.listen, SeparateUsers: opts.separateUsers})
	if err != nil {
		return usageError{err}
	}
	defer dn.Close()
	fmt.Fprintf(opts.stderr, "meshrpc: a local tailnet runs at %s; in other shells run:\n", dn.ControlURL())
	fmt.Fprintf(opts.stdout, "export MESHRPC_CONTROL_URL=%s\n", dn.ControlURL())
	fmt.Fprintln(opts.stderr, "meshrpc: Ctrl-C stops it")
	<-ctx.Done()
	return nil
}
