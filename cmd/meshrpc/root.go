package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	controlURL string
	stateDir   string
	hostname   string
	authKey    string
	verbose    bool
	via        string
	tsSocket   string
	retries    int

	stdout io.Writer
	stderr io.Writer
}

func newCmdRoot() *cobra.Command {
	g := &globalOptions{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:   "meshrpc",
		Short: "Call and serve named procedures on your private tailnet",
		Long: `meshrpc offers named procedures (JSON-RPC 2.0) to the other devices of your
tailnet, and to nobody else: nothing listens on a host port, and the caller's
tailnet identity decides what it may call.

Serve on the home server, call from anywhere on the tailnet:

  meshrpc serve --hostname home
  meshrpc uname home
  meshrpc kv inc home visits`,
		Example: `  meshrpc demo
  meshrpc peers
  meshrpc call home sys.whoami`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q; run meshrpc --help for the list", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	fl := root.PersistentFlags()
	fl.StringVar(&g.controlURL, "control-url", os.Getenv(mesh.EnvControlURL), "coordination server URL (env MESHRPC_CONTROL_URL; default Tailscale's)")
	fl.StringVar(&g.stateDir, "state-dir", os.Getenv(mesh.EnvStateDir), "directory of this node's identity, logs and socket (env MESHRPC_STATE_DIR; default "+defaultStateDirHelp()+")")
	fl.StringVar(&g.hostname, "hostname", os.Getenv(mesh.EnvHostname), "this node's name on the tailnet (env MESHRPC_HOSTNAME; default the machine's, or the one used last)")
	fl.StringVar(&g.authKey, "authkey", "", "auth key to join the tailnet without a browser login (env TS_AUTHKEY)")
	fl.StringVar(&g.via, "via", envOr("MESHRPC_VIA", node.ViaAuto), "how to reach the tailnet: auto, tailscale (this machine's tailscaled) or tsnet (a node of meshrpc's own) (env MESHRPC_VIA)")
	fl.StringVar(&g.tsSocket, "tailscale-socket", os.Getenv("MESHRPC_TAILSCALE_SOCKET"), "tailscaled's LocalAPI socket (env MESHRPC_TAILSCALE_SOCKET; default the platform's)")
	fl.IntVar(&g.retries, "retries", 2, "tries again this often when a call gets no reply (same call id: the peer runs it once)")
	fl.BoolVar(&g.verbose, "verbose", false, "show tsnet's logs on stderr instead of writing them to the state directory")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)

	root.SetVersionTemplate("meshrpc {{.Version}}\n")
	root.AddCommand(
		newCmdVersion(g),
		newCmdServe(g),
		newCmdPeers(g),
		newCmdCall(g),
		newCmdLs(g),
		newCmdStatus(g),
		newCmdStats(g),
		newCmdAudit(g),
		newCmdUname(g),
		newCmdWhoami(g),
		newCmdKV(g),
		newCmdStore(g),
		newCmdDevnet(g),
		newCmdDemo(g),
	)
	return root
}

func defaultStateDirHelp() string {
	d, err := mesh.DefaultStateDir()
	if err != nil {
		return "~/.config/meshrpc/default"
	}
	return d
}

// tsLogf is tsnet's logger: stderr when verbose, else nil (the state dir).
func (g *globalOptions) tsLogf() func(string, ...any) {
	if !g.verbose {
		return nil
	}
	l := log.New(g.stderr, "tsnet: ", log.LstdFlags)
	return l.Printf
}

// dial returns a client on the tailnet, through a local serving node when
// there is one.
func (g *globalOptions) dial(ctx context.Context) (*node.Client, error) {
	c, err := node.Dial(ctx, node.ClientConfig{
		Hostname:        g.hostname,
		StateDir:        g.stateDir,
		ControlURL:      g.controlURL,
		AuthKey:         g.authKey,
		Progress:        g.stderr,
		TailscaleLogf:   g.tsLogf(),
		ControlTimeout:  30 * time.Second,
		Via:             g.via,
		TailscaleSocket: g.tsSocket,
		Retries:         g.retries,
	})
	if err != nil {
		if g.via != node.ViaAuto && g.via != node.ViaTailscale && g.via != node.ViaTsnet {
			return nil, usageError{err}
		}
		return nil, unreachableError{fmt.Errorf("joining the tailnet: %w", err)}
	}
	if g.verbose {
		route, _ := c.Route()
		fmt.Fprintf(g.stderr, "meshrpc: reaching the tailnet through %s\n", route)
	}
	return c, nil
}

// callPeer reaches the tailnet, makes one call to peer bounded by timeout,
// and leaves; its error is explained and sorted for the exit status.
func (g *globalOptions) callPeer(ctx context.Context, peer, method string, params, result any, timeout time.Duration) error {
	c, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Call(ctx, peer, method, params, result); err != nil {
		return callError(peer, method, err)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// exactArgs and friends make cobra's argument checks usage errors (exit 2).
// argsError says how a command is called when it got the wrong number of
// arguments: "meshrpc kv inc PEER KEY [DELTA] takes 2 to 3 arguments, got 1".
func argsError(cmd *cobra.Command, want string, got int) error {
	form := cmd.CommandPath()
	if _, rest, ok := strings.Cut(cmd.Use, " "); ok {
		form += " " + rest
	}
	return usagef("%s takes %s argument(s), got %d; see %s --help", form, want, got, cmd.CommandPath())
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return argsError(cmd, fmt.Sprint(n), len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return argsError(cmd, fmt.Sprintf("at least %d", n), len(args))
		}
		return nil
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return argsError(cmd, fmt.Sprintf("%d to %d", lo, hi), len(args))
		}
		return nil
	}
}
