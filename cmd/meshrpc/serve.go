package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

type serveOptions struct {
	*globalOptions
	port   int
	data   string
	allow  []string
	config string
}

// serveConfig is the file given to --config (JSON; docs/cli.md).
type serveConfig struct {
	Allow []string `json:"allow"`
	Data  string   `json:"data"`
	Port  int      `json:"port"`
}

func newCmdServe(g *globalOptions) *cobra.Command {
	opts := &serveOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Join the tailnet and serve procedures until interrupted",
		Long: `Join the tailnet and serve the built-in procedures (sys.*, kv.*, rpc.discover)
on this node's tailnet address only, port 4343. Nothing listens on the host's
network; the CLI on this machine reaches the tailnet through a unix socket in
the state directory.

Who may call: by default only your own devices (the same tailnet user).
--allow PRINCIPAL[=METHOD_GLOB,...] rules replace that default; PRINCIPAL is
self, *, user:LOGIN, tag:NAME or node:NAME. Tailnet grants of the capability
github.com/meshrpc/meshrpc/cap/rpc allow more, without a restart.

SIGINT or SIGTERM drains the calls in flight and closes the store cleanly.`,
		Example: `  meshrpc serve --hostname home
  meshrpc serve --allow self --allow 'tag:laptop=kv.*,sys.*'
  meshrpc serve --data /var/lib/meshrpc/kv.db --config /etc/meshrpc.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), opts, cmd.Flags().Changed("port"))
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.port, "port", node.DefaultPort, "port on the tailnet address")
	f.StringVar(&opts.data, "data", "", "the store's bbolt file (default STATE_DIR/kv.db)")
	f.StringArrayVar(&opts.allow, "allow", nil, "who may call what: PRINCIPAL[=GLOB,...] (repeatable)")
	f.StringVar(&opts.config, "config", "", "a JSON file with allow, data and port (flags win)")
	return cmd
}

func runServe(ctx context.Context, opts *serveOptions, portSet bool) error {
	cfg := node.Config{
		Hostname:      opts.hostname,
		StateDir:      opts.stateDir,
		ControlURL:    opts.controlURL,
		AuthKey:       opts.authKey,
		Port:          opts.port,
		DataFile:      opts.data,
		Allow:         opts.allow,
		Progress:      opts.stderr,
		TailscaleLogf: opts.tsLogf(),
	}
	if opts.config != "" {
		fc, err := readServeConfig(opts.config)
		if err != nil {
			return usageError{err}
		}
		if len(cfg.Allow) == 0 {
			cfg.Allow = fc.Allow
		}
		if cfg.DataFile == "" {
			cfg.DataFile = fc.Data
		}
		if !portSet && fc.Port != 0 {
			cfg.Port = fc.Port
		}
	}
	for _, rule := range cfg.Allow {
		if _, err := authz.ParseRule(rule); err != nil {
			return usageError{err}
		}
	}
	n, err := node.New(ctx, cfg)
	if err != nil {
		return unreachableError{err}
	}
	if self := n.Mesh().Self(); len(self.Tags) > 0 && len(cfg.Allow) == 0 {
		fmt.Fprintf(opts.stderr, "meshrpc: warning: this node is tagged (%s), so it belongs to the tailnet, not to a person:\n"+
			"  the default rule \"self\" allows no caller. Add --allow rules (e.g. --allow 'user:you@example.com')\n"+
			"  or grant github.com/meshrpc/meshrpc/cap/rpc in the tailnet policy.\n", strings.Join(self.Tags, ", "))
	}
	fmt.Fprintf(opts.stderr, "meshrpc: serving %d procedures on %s (http://%s:%d/rpc); Ctrl-C to stop\n",
		len(n.Registry().Procedures()), n.Addr(), n.Name(), cfg.Port)
	err = n.Serve(ctx)
	fmt.Fprintln(opts.stderr, "meshrpc: stopped; the store is closed")
	return err
}

func readServeConfig(path string) (serveConfig, error) {
	var c serveConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %v (expected {\"allow\": [...], \"data\": \"FILE\", \"port\": 4343})", path, err)
	}
	return c, nil
}
