package main

import (
	"context"
	"fmt"

	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

type peersOptions struct {
	*globalOptions
	json    bool
	watch   bool
	timeout time.Duration
}

// peerRow is one line of `meshrpc peers`.
type peerRow struct {
	mesh.Peer
	// Ping is the tailnet's own round trip and path (direct or relayed).
	Ping      *mesh.Ping `json:"ping,omitempty"`
	PingError string     `json:"ping_error,omitempty"`
	Meshrpc   bool       `json:"meshrpc"`
	Version   string     `json:"version,omitempty"`
	Methods   int        `json:"methods,omitempty"`
	// RTTMs is a meshrpc call's round trip (sys.info), above Ping's.
	RTTMs float64 `json:"rtt_ms,omitempty"`
	Error string  `json:"error,omitempty"`
}

func newCmdPeers(g *globalOptions) *cobra.Command {
	opts := &peersOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the tailnet's peers and which of them run meshrpc",
		Long: `List every peer of the tailnet: name, address, OS, whether it is online,
the path to it (direct, with the endpoint, or relayed through a DERP region)
and the tailnet's round trip (a disco ping, below TCP), and whether it runs
meshrpc (probed with sys.info), with its version, method count and the round
trip of a call. Online peers are probed all at once, each with --timeout.

--watch prints changes instead, as the tailnet reports them (a peer joins,
leaves, goes online or offline, changes path) until interrupted; with --json,
one JSON object per line.`,
		Example: `  meshrpc peers
  meshrpc peers --json
  meshrpc peers --watch`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.watch {
				return watchPeers(cmd.Context(), opts)
			}
			return runPeers(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON array (with --watch, a JSON object per line)")
	cmd.Flags().BoolVar(&opts.watch, "watch", false, "print changes as they happen, until interrupted")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 2*time.Second, "how long to wait for each peer's answer")
	return cmd
}

func runPeers(ctx context.Context, opts *peersOptions) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, peers, err := c.Peers(ctx)
	if err != nil {
		return unreachableError{err}
	}
	rows := make([]peerRow, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		rows[i].Peer = p
		if !p.Online {
			continue
		}
		wg.Go(func() { probe(ctx, c, &rows[i], opts.timeout) })
		wg.Go(func() { pingPeer(ctx, c, &rows[i], opts.timeout) })
	}
	wg.Wait()
	if opts.json {
		return printJSON(opts.stdout, rows)
	}
	tw := newTable(opts.stdout)
	fmt.Fprintln(tw, "NAME\tADDRESS\tOS\tSTATUS\tPATH\tPING\tMESHRPC\tVERSION\tMETHODS\tRPC RTT")
	for _, r := range rows {
		addr := ""
		if len(r.Addrs) > 0 {
			addr = r.Addrs[0].String()
		}
		status := "online"
		if !r.Online {
			status = "offline"
		}
		rpcCol, version, methods, rtt := "no", "-", "-", "-"
		if r.Meshrpc {
			rpcCol, version, methods, rtt = "yes", escape(r.Version), fmt.Sprint(r.Methods), fmt.Sprintf("%.1fms", r.RTTMs)
		}
		path, ping := "-", "-"
		if p := r.Ping; p != nil {
			path, ping = pathOf(*p), fmt.Sprintf("%.1fms", p.LatencyMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", escape(r.Name), addr, escape(r.OS), status, escape(path), ping, rpcCol, version, methods, rtt)
	}
	return tw.Flush()
}

// pathOf is "direct 1.2.3.4:41641" or "relayed nyc".
func pathOf(p mesh.Ping) string {
	if p.Path == "direct" {
		return "direct " + p.Endpoint
	}
	return p.Path + " " + p.DERPRegion
}

// pingPeer measures the tailnet's round trip to a peer, and its path.
func pingPeer(ctx context.Context, c *node.Client, row *peerRow, timeout time.Duration) {
	if len(row.Addrs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, err := c.Ping(ctx, row.Addrs[0])
	if err != nil {
		row.PingError = err.Error()
		return
	}
	row.Ping = &p
}

// probe asks a peer's sys.info; an answer means it runs meshrpc.
func probe(ctx context.Context, c *node.Client, row *peerRow, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var info api.Info
	target := row.Name
	if len(row.Addrs) > 0 {
		target = row.Addrs[0].String() // this node, not another of its name
	}
	err := c.Call(ctx, target, "sys.info", nil, &info)
	if row.Meshrpc = node.RunsMeshrpc(err); row.Meshrpc {
		row.RTTMs = float64(time.Since(start).Microseconds()) / 1000
	}
	switch {
	case err == nil:
		row.Version, row.Methods = info.Version, info.Methods
	case rpc.CodeOf(err) == rpc.CodePermissionDenied:
		row.Error = "permission denied" // meshrpc answered; it may not say more
	default:
		row.Error = err.Error()
	}
}
