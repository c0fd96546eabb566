package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/rpc"
)

type whoamiOptions struct {
	*globalOptions
	peer string
	json bool
}

func newCmdWhoami(g *globalOptions) *cobra.Command {
	opts := &whoamiOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "whoami [PEER]",
		Short: "Show who you are on the tailnet, or as PEER sees you",
		Long: `Without PEER, show this machine's node on the tailnet. With PEER, call its
sys.whoami: the node, login, tags and granted capabilities it sees when you
call, which decide what you may call there.`,
		Example: `  meshrpc whoami
  meshrpc whoami home --json`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.peer = args[0]
			}
			return runWhoami(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON document")
	return cmd
}

func runWhoami(ctx context.Context, opts *whoamiOptions) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var me rpc.Caller
	if opts.peer == "" {
		self, _, err := c.Peers(ctx)
		if err != nil {
			return unreachableError{err}
		}
		me = rpc.Caller{Node: self.Name, NodeFQDN: self.DNSName, Login: self.User, Tags: self.Tags}
		if len(self.Addrs) > 0 {
			me.Addr = self.Addrs[0].String()
		}
	} else {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Call(cctx, opts.peer, "sys.whoami", nil, &me); err != nil {
			return callError(opts.peer, "sys.whoami", err)
		}
	}
	if opts.json {
		return printJSON(opts.stdout, me)
	}
	tw := newTable(opts.stdout)
	fmt.Fprintf(tw, "node:\t%s\n", escape(me.Node))
	if me.NodeFQDN != "" {
		fmt.Fprintf(tw, "name:\t%s\n", escape(me.NodeFQDN))
	}
	fmt.Fprintf(tw, "login:\t%s\n", escape(me.Login))
	if len(me.Tags) > 0 {
		fmt.Fprintf(tw, "tags:\t%s\n", strings.Join(escapeAll(me.Tags), ", "))
	}
	if me.Addr != "" {
		fmt.Fprintf(tw, "address:\t%s\n", escape(me.Addr))
	}
	for name, vals := range me.Caps {
		b, _ := json.Marshal(vals)
		fmt.Fprintf(tw, "grant:\t%s %s\n", escape(string(name)), escape(string(b)))
	}
	return tw.Flush()
}
