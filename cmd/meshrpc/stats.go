package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/node/stats"
)

type statsOptions struct {
	*globalOptions
	peer    string
	json    bool
	timeout time.Duration
}

func newCmdStats(g *globalOptions) *cobra.Command {
	opts := &statsOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "stats PEER",
		Short: "Show a peer's calls, errors and latency per method and per caller",
		Long: `Show PEER's figures since it started (sys.stats): for each method and each
caller, calls, errors and latency percentiles (p50, p99).`,
		Example: `  meshrpc stats home
  meshrpc stats home --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.peer = args[0]
			return runStats(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON document")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

func runStats(ctx context.Context, opts *statsOptions) error {
	var rep api.StatsReport
	if err := opts.callPeer(ctx, opts.peer, "sys.stats", nil, &rep, opts.timeout); err != nil {
		return err
	}
	if opts.json {
		return printJSON(opts.stdout, rep)
	}
	fmt.Fprintf(opts.stdout, "%s: %d calls, %d errors since %s\n", escape(opts.peer), rep.Calls, rep.Errors, rep.Since.Local().Format(time.DateTime))
	if rep.AuditLost > 0 {
		fmt.Fprintf(opts.stdout, "audit records lost: %d\n", rep.AuditLost)
	}
	tw := newTable(opts.stdout)
	for _, section := range []struct {
		title string
		rows  []stats.Row
	}{{"METHOD", rep.Methods}, {"CALLER", rep.Callers}} {
		fmt.Fprintf(tw, "\n%s\tCALLS\tERRORS\tP50\tP99\n", section.title)
		for _, r := range section.rows {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.2fms\t%.2fms\n", escape(r.Name), r.Calls, r.Errors, r.P50Ms, r.P99Ms)
		}
	}
	return tw.Flush()
}
