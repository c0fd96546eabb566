package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node/api"
)

type unameOptions struct {
	*globalOptions
	peers   []string
	json    bool
	all     bool
	tag     string
	timeout time.Duration
}

func newCmdUname(g *globalOptions) *cobra.Command {
	opts := &unameOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "uname PEER...",
		Short: "Show uname(2) of peers' machines",
		Long:  "Call sys.uname on every PEER at once and print one row per peer.",
		Example: `  meshrpc uname home
  meshrpc uname home nas --json
  meshrpc uname --all`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.all || opts.tag != "" {
				return nil
			}
			return minArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.peers = args
			return runUname(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON array, an object per peer")
	cmd.Flags().BoolVar(&opts.all, "all", false, "every online peer")
	cmd.Flags().StringVar(&opts.tag, "tag", "", "every online peer with this tag")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 10*time.Second, "per-peer timeout")
	return cmd
}

func runUname(ctx context.Context, opts *unameOptions) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	peers := opts.peers
	if opts.all || opts.tag != "" {
		if peers, err = selectPeers(ctx, c, opts.all, opts.tag); err != nil {
			return err
		}
	}
	results := fanOut(ctx, c, peers, "sys.uname", nil, opts.timeout)
	if opts.json {
		return printFanOut(opts.globalOptions, results, true)
	}
	tw := newTable(opts.stdout)
	fmt.Fprintln(tw, "PEER\tSYSNAME\tNODENAME\tRELEASE\tMACHINE\tVERSION")
	for _, r := range results {
		var u api.Uname
		if !r.OK || json.Unmarshal(r.Result, &u) != nil {
			fmt.Fprintf(tw, "%s\terror: %s\t\t\t\t\n", escape(r.Peer), escape(r.Error))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", escape(r.Peer), escape(u.Sysname), escape(u.Nodename), escape(u.Release), escape(u.Machine), escape(u.Version))
	}
	tw.Flush()
	return printFanOut(&globalOptions{stdout: discard{}}, results, true)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
