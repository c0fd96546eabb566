package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

type kvOptions struct {
	*globalOptions
	json  bool
	limit int
}

func newCmdKV(g *globalOptions) *cobra.Command {
	opts := &kvOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Use a peer's key-value store",
		Long: `Read and write the durable key-value store of a peer. Values are JSON; a
VALUE that is not valid JSON is taken as a string. Every write is on disk
(fsynced) before it is acknowledged.`,
		Example: `  meshrpc kv put home greeting hello
  meshrpc kv get home greeting
  meshrpc kv inc home visits
  meshrpc kv list home user/
  meshrpc kv watch home user/`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown kv command %q; it is one of get, put, delete, list, inc, watch, export, import", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().BoolVar(&opts.json, "json", false, "print one JSON document")
	simple := func(use, short, example, method string, args cobra.PositionalArgs, build func([]string) []any) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: args,
			RunE: func(cmd *cobra.Command, args []string) error {
				return runKV(cmd.Context(), opts, args[0], method, build(args[1:]))
			},
		}
	}
	list := &cobra.Command{
		Use: "list PEER [PREFIX]", Short: "List keys (and values) by prefix", Example: "  meshrpc kv list home user/",
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKVList(cmd.Context(), opts, args[0], append(args[1:], "")[0])
		},
	}
	list.Flags().IntVar(&opts.limit, "limit", 0, "at most this many entries")
	cmd.AddCommand(
		simple("get PEER KEY", "Print the value of KEY (null when absent)", "  meshrpc kv get home greeting", "kv.get", exactArgs(2),
			func(a []string) []any { return []any{a[0]} }),
		simple("put PEER KEY VALUE", "Set KEY to VALUE", "  meshrpc kv put home greeting '\"hello\"'\n  meshrpc kv put home config '{\"x\":1}'", "kv.put", exactArgs(3),
			func(a []string) []any { return []any{a[0], argValue(a[1])} }),
		simple("delete PEER KEY", "Delete KEY", "  meshrpc kv delete home greeting", "kv.delete", exactArgs(2),
			func(a []string) []any { return []any{a[0]} }),
		simple("inc PEER KEY [DELTA]", "Add DELTA (default 1) to the integer at KEY, atomically", "  meshrpc kv inc home visits\n  meshrpc kv inc home visits -- -5", "kv.inc", rangeArgs(2, 3),
			func(a []string) []any {
				if len(a) == 2 {
					return []any{a[0], argValue(a[1])}
				}
				return []any{a[0]}
			}),
		list,
		newCmdKVWatch(opts),
		newCmdKVExport(opts),
		newCmdKVImport(opts),
	)
	return cmd
}

func runKV(ctx context.Context, opts *kvOptions, peer, method string, params []any) error {
	var result json.RawMessage
	if err := opts.callPeer(ctx, peer, method, params, &result, 30*time.Second); err != nil {
		return err
	}
	return printResult(opts.stdout, result, false)
}

// runKVList lists the entries under prefix, page by page (a kv.list reply
// holds at most 4 MiB), up to --limit of them.
func runKVList(ctx context.Context, opts *kvOptions, peer, prefix string) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	entries := []api.Entry{}
	if err := listPages(ctx, c, peer, prefix, opts.limit, func(e api.Entry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		return err
	}
	if opts.json {
		b, _ := json.Marshal(entries)
		return printResult(opts.stdout, b, false)
	}
	tw := newTable(opts.stdout)
	fmt.Fprintln(tw, "KEY\tREV\tVALUE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", escape(e.Key), e.Rev, oneLine(e.Value, 60))
	}
	return tw.Flush()
}

func newCmdKVWatch(opts *kvOptions) *cobra.Command {
	var after int64
	cmd := &cobra.Command{
		Use:   "watch PEER [PREFIX]",
		Short: "Print changes under PREFIX as they happen, until interrupted",
		Example: `  meshrpc kv watch home
  meshrpc kv watch home user/ --after 120`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			return runKVWatch(cmd.Context(), opts, args[0], prefix, after)
		},
	}
	cmd.Flags().Int64Var(&after, "after", -1, "print changes after this store revision (default: from now; 0: every change the store still remembers)")
	return cmd
}

func runKVWatch(ctx context.Context, opts *kvOptions, peer, prefix string, after int64) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	const wait = 30 // seconds each long poll may wait
	// listed holds the keys a resync printed, at their revisions: a change
	// the listing already showed is not printed again.
	var listed map[string]int64
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, (wait+10)*time.Second)
		var res json.RawMessage
		err := c.Call(cctx, peer, "kv.watch", []any{prefix, after, wait}, &res)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if current, ok := compactedAt(err); ok {
			// The log no longer holds what follows after: list the keys as
			// they are now, then follow the changes after the revision
			// the refusal gave, which the listing may already show.
			if listed, err = resyncList(ctx, opts, c, peer, prefix, after); err != nil {
				return err
			}
			after = current
			continue
		}
		if err != nil {
			return callError(peer, "kv.watch", err)
		}
		events, rev := watchEvents(res)
		for _, e := range events {
			var ev api.Event
			json.Unmarshal(e, &ev)
			if r, ok := listed[ev.Key]; ok && ev.Rev <= r {
				continue // the listing showed it
			}
			printEvent(opts, e, ev)
		}
		if rev > after {
			after = rev
		}
	}
	return nil
}

func printEvent(opts *kvOptions, raw json.RawMessage, ev api.Event) {
	if opts.json {
		fmt.Fprintf(opts.stdout, "%s\n", raw)
		return
	}
	fmt.Fprintf(opts.stdout, "%-6s %s = %s (rev %s)\n", escape(ev.Type), escape(ev.Key), oneLine(ev.Value, 60), strconv.FormatInt(ev.Rev, 10))
}

// compactedAt reads kv.watch's refusal of a revision the change log no
// longer holds: the store's revision then.
func compactedAt(err error) (current int64, ok bool) {
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeNotFound {
		return 0, false
	}
	b, _ := json.Marshal(re.Data)
	var d struct {
		Compacted *int64 `json:"compacted_rev"`
		Current   int64  `json:"current_rev"`
	}
	if json.Unmarshal(b, &d) != nil || d.Compacted == nil {
		return 0, false
	}
	return d.Current, true
}

// resyncList prints the keys under prefix as they are now, each as a put,
// and returns them with their revisions.
func resyncList(ctx context.Context, opts *kvOptions, c *node.Client, peer, prefix string, after int64) (map[string]int64, error) {
	fmt.Fprintf(opts.stderr, "meshrpc: %s no longer remembers the changes after revision %d; the keys as they are now:\n", peer, after)
	listed := map[string]int64{}
	err := listPages(ctx, c, peer, prefix, 0, func(e api.Entry) error {
		ev := api.Event{Type: "put", Key: e.Key, Value: e.Value, Rev: e.Rev}
		listed[ev.Key] = ev.Rev
		b, _ := json.Marshal(ev)
		printEvent(opts, b, ev)
		return nil
	})
	return listed, err
}

// watchEvents reads kv.watch's result: {"events": [...], "rev": N} or a bare
// list of events, each with a "rev".
func watchEvents(res json.RawMessage) (events []json.RawMessage, rev int64) {
	var obj struct {
		Events []json.RawMessage `json:"events"`
		Rev    int64             `json:"rev"`
	}
	if json.Unmarshal(res, &obj) != nil {
		json.Unmarshal(res, &obj.Events)
	}
	for _, e := range obj.Events {
		var r struct {
			Rev int64 `json:"rev"`
		}
		if json.Unmarshal(e, &r) == nil && r.Rev > obj.Rev {
			obj.Rev = r.Rev
		}
	}
	return obj.Events, obj.Rev
}
