package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

type lsOptions struct {
	*globalOptions
	peer    string
	why     bool
	json    bool
	timeout time.Duration
}

func newCmdLs(g *globalOptions) *cobra.Command {
	opts := &lsOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "ls PEER",
		Short: "List the procedures on PEER that you may call",
		Long: `List the procedures on PEER that you may call, with their params and
summaries. PEER decides, with its own rules and the tailnet's grants applied
to you (rpc.allowed); nothing is guessed on this side.

--why lists every procedure: for an allowed one the rule or grant that allows
it, for a denied one what would allow it. Params marked ? are optional.`,
		Example: `  meshrpc ls home
  meshrpc ls home --why`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.peer = args[0]
			return runLs(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.why, "why", false, "also list what you may not call, and say why for each")
	f.BoolVar(&opts.json, "json", false, "print one JSON document")
	f.DurationVar(&opts.timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

func runLs(ctx context.Context, opts *lsOptions) error {
	var procs []api.Allowed
	if err := opts.callPeer(ctx, opts.peer, authz.AllowedMethod, api.AllowedParams{Why: opts.why}, &procs, opts.timeout); err != nil {
		return err
	}
	if procs == nil {
		procs = []api.Allowed{}
	}
	if opts.json {
		return printJSON(opts.stdout, procs)
	}
	tw := newTable(opts.stdout)
	if opts.why {
		fmt.Fprintln(tw, "NAME\tPARAMS\tMAY CALL\tWHY")
		for _, p := range procs {
			may, why := "yes", p.By
			if len(p.Keys) > 0 {
				may = "keys " + strings.Join(p.Keys, ", ")
			}
			if !p.Allowed {
				may, why = "no", p.Hint
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", escape(p.Name), paramList(p.Params), may, escape(why))
		}
	} else {
		fmt.Fprintln(tw, "NAME\tPARAMS\tSUMMARY")
		for _, p := range procs {
			summary := p.Summary
			if p.Provider != "" { // a program on the node's machine serves it
				summary = strings.TrimSpace("[" + p.Provider + "] " + summary)
			}
			if len(p.Keys) > 0 { // what a call will find: only these keys
				summary = "[only keys " + strings.Join(p.Keys, ", ") + "] " + summary
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", escape(p.Name), paramList(p.Params), escape(summary))
		}
	}
	return tw.Flush()
}

// paramList is "key, delta?": the params in order, optional ones marked.
func paramList(params []rpc.Param) string {
	if len(params) == 0 {
		return "-"
	}
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
		if !p.Required {
			names[i] += "?"
		}
	}
	return escape(strings.Join(names, ", "))
}
