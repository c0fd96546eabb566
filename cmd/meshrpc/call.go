package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/rpc"
)

type callOptions struct {
	*globalOptions
	peer    string
	method  string
	args    []string
	params  string
	json    bool
	raw     bool
	timeout time.Duration
	all     bool
	tag     string
}

func newCmdCall(g *globalOptions) *cobra.Command {
	opts := &callOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "call PEER METHOD [ARG...]",
		Short: "Call a procedure on a peer",
		Long: `Call METHOD on PEER and print its result.

Each ARG is taken as JSON when it parses as JSON, else as a string; key=value
pairs make named params. --params gives the params as raw JSON instead.
With --all or --tag, PEER is left out and the call goes to every matching peer
at once, one row per peer; so does a list of peers, PEER,PEER,...

Exit status: 0 ok, 1 the call returned an error, 2 usage, 3 unreachable.`,
		Example: `  meshrpc call home sys.uname
  meshrpc call home kv.put greeting '"hello"'
  meshrpc call home kv.inc key=visits delta=5
  meshrpc call home kv.get --params '["greeting"]' --raw
  meshrpc call home disk path=/srv --raw
  meshrpc call --all sys.ping
  meshrpc call home,nas sys.uname --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.all || opts.tag != "" {
				return minArgs(1)(cmd, args)
			}
			return minArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.all || opts.tag != "" {
				opts.method, opts.args = args[0], args[1:]
			} else {
				opts.peer, opts.method, opts.args = args[0], args[1], args[2:]
			}
			return runCall(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.params, "params", "", "params as raw JSON (an object or an array)")
	f.BoolVar(&opts.json, "json", false, "print the result as one JSON document")
	f.BoolVar(&opts.raw, "raw", false, "print a string result without quotes; a program's output as it printed it")
	f.DurationVar(&opts.timeout, "timeout", 30*time.Second, "give up on the call (per peer) after this long")
	f.BoolVar(&opts.all, "all", false, "call every online peer")
	f.StringVar(&opts.tag, "tag", "", "call every online peer with this tag (tag:NAME)")
	return cmd
}

func runCall(ctx context.Context, opts *callOptions) error {
	params, err := parseParams(opts.args, opts.params)
	if err != nil {
		return err
	}
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if opts.all || opts.tag != "" {
		targets, err := selectPeers(ctx, c, opts.all, opts.tag)
		if err != nil {
			return err
		}
		results := fanOut(ctx, c, targets, opts.method, params, opts.timeout)
		return printFanOut(opts.globalOptions, results, opts.json)
	}
	if strings.Contains(opts.peer, ",") { // several peers: home,nas
		results := fanOut(ctx, c, strings.Split(opts.peer, ","), opts.method, params, opts.timeout)
		return printFanOut(opts.globalOptions, results, opts.json)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	if opts.verbose {
		id := uuid.NewString()
		ctx = rpc.WithCallID(ctx, id)
		fmt.Fprintf(opts.stderr, "meshrpc: calling %s on %s, call id %s\n", opts.method, opts.peer, id)
	}
	var result json.RawMessage
	if err := c.Call(ctx, opts.peer, opts.method, params, &result); err != nil {
		return callError(opts.peer, opts.method, err)
	}
	if opts.json {
		return printJSON(opts.stdout, result)
	}
	if cr, ok := commandResult(result); ok && opts.raw {
		return printCommandResult(opts.globalOptions, opts.peer, opts.method, cr)
	}
	return printResult(opts.stdout, result, opts.raw)
}

// callError explains a failed call; its type decides the exit status.
func callError(peer, method string, err error) error {
	var re *rpc.Error
	switch {
	case errors.As(err, &re) && re.Code == rpc.CodeUnavailable: // the node answered: it cannot serve now (exit 3)
		return unreachableError{fmt.Errorf("%s on %s: %s (code %d)", method, peer, re.Message, re.Code)}
	case errors.As(err, &re):
		return fmt.Errorf("%s on %s: %s (code %d)", method, peer, re.Message, re.Code)
	case errors.Is(err, mesh.ErrNoSuchNode), errors.Is(err, mesh.ErrAmbiguousName), errors.Is(err, mesh.ErrOffline):
		return unreachableError{err} // the tailnet map's answer, said once
	case errors.Is(err, context.DeadlineExceeded):
		return unreachableError{timeoutError(peer, method, err)}
	}
	return unreachableError{fmt.Errorf("%s on %s: %w; is %s online and running meshrpc serve?", method, peer, err, peer)}
}

// timeoutError says what a call that ran out of time was waiting for: the
// tailnet, a connection to the peer, or the answer to a call it sent.
func timeoutError(peer, method string, err error) error {
	var te *rpc.TransportError
	switch {
	case !errors.As(err, &te):
		return fmt.Errorf("%s on %s: the tailnet did not answer before the timeout (--timeout)", method, peer)
	case te.Sent:
		return fmt.Errorf("%s on %s: the call was sent, but no answer came before the timeout (--timeout); it may still be running there", method, peer)
	}
	return fmt.Errorf("%s on %s: no connection to %s's meshrpc before the timeout (--timeout): is %s up, and running meshrpc serve?", method, peer, peer, peer)
}
