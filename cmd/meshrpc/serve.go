package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/command"
	"github.com/meshrpc/meshrpc/node/configfile"
	"github.com/meshrpc/meshrpc/rpc/authz"
	"github.com/meshrpc/meshrpc/store"
)

type serveOptions struct {
	*globalOptions
	port   int
	data   string
	allow  []string
	config string
	expose []string

	checkStore, initStore bool
}

func newCmdServe(g *globalOptions) *cobra.Command {
	opts := &serveOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Join the tailnet and serve procedures until interrupted",
		Long: `Join the tailnet and serve the built-in procedures (sys.*, kv.*, rpc.discover)
on this node's tailnet address only, port 4343. Nothing listens on the host's
network; the CLI on this machine reaches the tailnet through a unix socket in
the state directory. A browser on the tailnet (a phone with the Tailscale
app) finds a web console at http://NODE:4343/ (docs/console.md).

Who may call: by default only your own devices (the same tailnet user).
--allow PRINCIPAL[=METHOD_GLOB,...] rules replace that default; PRINCIPAL is
self, *, user:LOGIN, tag:NAME or node:NAME. Tailnet grants of the capability
github.com/meshrpc/meshrpc/cap/rpc allow more, without a restart.

--expose NAME=COMMAND serves a program as the procedure NAME. The command is
split into words as a shell would, but no shell runs it: pipes, variables and
globs are refused, and a word {param} takes a param's value as one argument.
A --config file (docs/config.md) declares programs in full: params, limits,
environment and who may call each.

SIGHUP reloads the --config file; a bad file leaves the running config as it
was. SIGINT or SIGTERM drains the calls in flight and closes the store cleanly.`,
		Example: `  meshrpc serve --hostname home
  meshrpc serve --allow self --allow 'tag:laptop=kv.*,sys.*'
  meshrpc serve --expose uptime=uptime --expose 'disk=df -h {path}'
  meshrpc serve --data /var/lib/meshrpc/kv.db --config /etc/meshrpc/serve.hujson`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), opts, cmd.Flags().Changed("port"))
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.port, "port", node.DefaultPort, "port on the tailnet address")
	f.StringVar(&opts.data, "data", "", "the store's bbolt file (default STATE_DIR/kv.db)")
	f.BoolVar(&opts.checkStore, "check-store", false, "check every page of the store before serving (docs/reliability.md)")
	f.BoolVar(&opts.initStore, "init-store", false, "make a store in a --data file that exists but is empty (0 bytes), which is otherwise refused")
	f.StringArrayVar(&opts.allow, "allow", nil, "who may call what: PRINCIPAL[=GLOB,...] (repeatable)")
	f.StringVar(&opts.config, "config", "", "a config file: allow, data, port, procedures (docs/config.md; flags win)")
	f.StringArrayVar(&opts.expose, "expose", nil, "serve a program: NAME=COMMAND, e.g. 'disk=df -h {path}' (repeatable)")
	return cmd
}

func runServe(ctx context.Context, opts *serveOptions, portSet bool) error {
	node.LimitMemory()
	// serve starts no children but the programs it exposes: their
	// descendants that escape the process group are its own to end.
	command.AdoptOrphans() // Linux only; elsewhere the group kill is all
	// Catch SIGHUP from the start: its default would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }()
	cfg := node.Config{
		Hostname:      opts.hostname,
		StateDir:      opts.stateDir,
		ControlURL:    opts.controlURL,
		AuthKey:       opts.authKey,
		Port:          opts.port,
		DataFile:      opts.data,
		CheckStore:    opts.checkStore,
		InitStore:     opts.initStore,
		Progress:      opts.stderr,
		TailscaleLogf: opts.tsLogf(),
	}
	file, err := opts.loadConfig()
	if err != nil {
		return usageError{err}
	}
	cfg.Allow, cfg.Commands = file.allow, file.commands
	if cfg.DataFile == "" {
		cfg.DataFile = file.data
	}
	if !portSet && file.port != 0 {
		cfg.Port = file.port
	}
	cfg.PersonalBytes, cfg.PersonalKeys = file.quota.Bytes, file.quota.Keys
	n, err := node.New(ctx, cfg)
	if errors.Is(err, store.ErrDamaged) {
		return err // the data file, not the tailnet: exit status 1
	}
	if err != nil {
		return unreachableError{err}
	}
	if self := n.Mesh().Self(); len(self.Tags) > 0 && len(cfg.Allow) == 0 {
		fmt.Fprintf(opts.stderr, "meshrpc: warning: this node is tagged (%s), so it belongs to the tailnet, not to a person:\n"+
			"  the default rule \"self\" allows no caller. Add --allow rules (e.g. --allow 'user:you@example.com')\n"+
			"  or grant github.com/meshrpc/meshrpc/cap/rpc in the tailnet policy.\n", strings.Join(self.Tags, ", "))
	}
	fmt.Fprintf(opts.stderr, "meshrpc: serving %d procedures on %s (http://%s:%d/rpc, web console http://%s:%d/); Ctrl-C to stop\n",
		len(n.Registry().Procedures()), n.Addr(), n.Name(), cfg.Port, n.Name(), cfg.Port)

	go func() {
		for range hup {
			opts.reload(n, cfg)
		}
	}()
	stopped := make(chan struct{})
	defer close(stopped)
	context.AfterFunc(ctx, func() { exitUnlessStopped(opts.stderr, stopped, stopTimeout) })
	err = n.Serve(ctx)
	fmt.Fprintln(opts.stderr, "meshrpc: stopped; the store is closed")
	return err
}

// stopTimeout bounds how long serve takes to stop once asked: draining
// calls (up to 10 s), then closing the store and leaving the tailnet. A
// supervisor restarting the node must not find the old process still
// holding its identity.
const stopTimeout = 15 * time.Second

// exitUnlessStopped ends the process unless stopped is closed within d:
// the last guarantee that SIGTERM stops serve, whatever peers did to it.
// The store is crash-safe, so exiting mid-close loses no acknowledged write.
func exitUnlessStopped(stderr io.Writer, stopped <-chan struct{}, d time.Duration) {
	select {
	case <-stopped:
	case <-time.After(d):
		fmt.Fprintf(stderr, "meshrpc: did not stop within %v of being asked; exiting anyway\n", d)
		os.Exit(1)
	}
}

// serveFile is the configuration that flags, --expose and --config make.
type serveFile struct {
	allow    []string
	data     string
	port     int
	commands []command.Spec
	quota    configfile.Quota
}

// loadConfig reads --config, if any, and merges the flags: --allow replaces
// the file's rules; --expose adds to its procedures.
func (opts *serveOptions) loadConfig() (serveFile, error) {
	var sf serveFile
	if opts.config != "" {
		f, err := configfile.Load(opts.config)
		if err != nil {
			return sf, err
		}
		sf = serveFile{allow: f.Allow, data: f.Data, port: f.Port, commands: f.Procedures, quota: f.PersonalQuota}
	}
	if len(opts.allow) > 0 {
		sf.allow = opts.allow
	}
	for _, rule := range sf.allow {
		if _, err := authz.ParseRule(rule); err != nil {
			return sf, err
		}
	}
	for _, e := range opts.expose {
		spec, err := command.ParseExpose(e)
		if err != nil {
			return sf, err
		}
		sf.commands = append(sf.commands, spec)
	}
	return sf, nil
}

// reload applies the config file again (SIGHUP), or says why not and keeps
// what runs.
func (opts *serveOptions) reload(n *node.Node, running node.Config) {
	sf, err := opts.loadConfig()
	if err == nil {
		err = n.Reconfigure(sf.allow, sf.commands)
	}
	if err != nil {
		fmt.Fprintf(opts.stderr, "meshrpc: reload failed, still serving the previous config: %v\n", err)
		return
	}
	fmt.Fprintf(opts.stderr, "meshrpc: reloaded %s: %d rules, %d command procedures\n", opts.configName(), len(n.Policy().Rules()), len(sf.commands))
	if (sf.data != "" && sf.data != running.DataFile) || (sf.port != 0 && sf.port != running.Port) {
		fmt.Fprintln(opts.stderr, "meshrpc: data and port changes take effect when the node restarts")
	}
}

func (opts *serveOptions) configName() string {
	if opts.config == "" {
		return "the flags"
	}
	return opts.config
}
