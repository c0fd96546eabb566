package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node/api"
)

type statusOptions struct {
	*globalOptions
	json bool
}

// statusReport is what `meshrpc status --json` prints.
type statusReport struct {
	Via    string    `json:"via"`             // socket, tailscale or tsnet
	Route  string    `json:"route"`           // the way, in words
	Tried  []string  `json:"tried,omitempty"` // why the ways before it were not taken
	Self   mesh.Peer `json:"self"`
	Peers  int       `json:"peers"`
	Online int       `json:"online"`
	// StoreOffline is why the store of the meshrpc serve on this machine
	// is offline (through its socket only; see sys.info).
	StoreOffline string `json:"store_offline,omitempty"`
}

func newCmdStatus(g *globalOptions) *cobra.Command {
	opts := &statusOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show how this machine reaches the tailnet, and as whom",
		Long: `Show which way the other commands reach the tailnet, and why: a meshrpc serve
on this machine (through its socket), this machine's own Tailscale (its
tailscaled, when it is logged in to the same tailnet), or a tsnet node of
meshrpc's own (in the state directory). --via chooses instead of auto.`,
		Example: `  meshrpc status
  meshrpc status --via tsnet --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return runStatus(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON document")
	return cmd
}

func runStatus(ctx context.Context, opts *statusOptions) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	self, peers, err := c.Peers(ctx)
	if err != nil {
		return unreachableError{err}
	}
	route, tried := c.Route()
	r := statusReport{Via: c.Via(), Route: route, Tried: tried, Self: self, Peers: len(peers)}
	for _, p := range peers {
		if p.Online {
			r.Online++
		}
	}
	if r.Via == "socket" {
		var info api.Info
		if c.Call(ctx, self.Name, "sys.info", nil, &info) == nil {
			r.StoreOffline = info.StoreOffline
		}
	}
	if opts.json {
		return printJSON(opts.stdout, r)
	}
	tw := newTable(opts.stdout)
	fmt.Fprintf(tw, "via:\t%s: %s\n", r.Via, r.Route)
	for _, why := range r.Tried {
		fmt.Fprintf(tw, "not:\t%s\n", why)
	}
	addrs := make([]string, len(self.Addrs))
	for i, a := range self.Addrs {
		addrs[i] = a.String()
	}
	fmt.Fprintf(tw, "self:\t%s (%s) %s\n", escape(self.Name), escape(self.User), strings.Join(addrs, " "))
	fmt.Fprintf(tw, "peers:\t%d, %d online\n", r.Peers, r.Online)
	if r.StoreOffline != "" {
		fmt.Fprintf(tw, "store:\t%s\n", r.StoreOffline)
	}
	return tw.Flush()
}
