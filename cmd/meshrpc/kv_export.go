package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/store"
)

// listPageSize is how many entries each kv.list call asks for when a
// command reads a whole prefix, page by page.
const listPageSize = 1000

// listPages calls each with the entries under prefix, in key order, at most
// limit of them (0: all), reading them a page at a time: memory stays
// bounded however large the store.
func listPages(ctx context.Context, c *node.Client, peer, prefix string, limit int, each func(api.Entry) error) error {
	after := ""
	for seen := 0; limit <= 0 || seen < limit; {
		ask := listPageSize
		if limit > 0 {
			ask = min(ask, limit-seen)
		}
		var page []api.Entry
		if err := c.Call(ctx, peer, "kv.list", api.ListParams{Prefix: prefix, After: after, Limit: ask}, &page); err != nil {
			return callError(peer, "kv.list", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, e := range page {
			if err := each(e); err != nil {
				return err
			}
		}
		seen += len(page)
		after = page[len(page)-1].Key
	}
	return nil
}

func newCmdKVExport(opts *kvOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "export PEER [PREFIX]",
		Short: "Write the entries under PREFIX as JSON lines (key, value, rev) to stdout",
		Long: `Write every entry under PREFIX (default: all the caller may see) to stdout,
one JSON object per line: {"key":...,"value":...,"rev":...}. It reads the
store a page at a time, so a store of any size exports in bounded memory.
Each page is consistent; writes made during a long export may or may not be
in it. "meshrpc kv import" reads the lines back.`,
		Example: `  meshrpc kv export home > home.jsonl
  meshrpc kv export home shared/ | meshrpc kv import nas`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			c, err := opts.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			w := bufio.NewWriter(opts.stdout)
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			n := 0
			err = listPages(cmd.Context(), c, args[0], prefix, 0, func(e api.Entry) error {
				n++
				return enc.Encode(e)
			})
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err == nil {
				fmt.Fprintf(opts.stderr, "meshrpc: exported %d entries\n", n)
			}
			return err
		},
	}
}

type importOptions struct {
	*kvOptions
	ifAbsent bool
}

func newCmdKVImport(kv *kvOptions) *cobra.Command {
	opts := &importOptions{kvOptions: kv}
	cmd := &cobra.Command{
		Use:   "import PEER [FILE]",
		Short: "Write the entries of JSON lines (from kv export) into PEER's store",
		Long: `Read JSON lines of {"key":...,"value":...} (as "meshrpc kv export" writes
them; "rev" is ignored) from FILE or stdin and write each entry to PEER,
overwriting what is there, or with --if-absent only where the key is absent.
Each entry is its own write, durable before it is counted, and running the
same import again changes no value, so an import that stopped half way (a
bad line, a lost connection) is finished by running it again: it leaves the
entries of the lines read before it stopped but for the last 32 or fewer
(which may or may not be written), each whole, and none after. Lines are read as they
come: a file of any size imports in bounded memory.`,
		Example: `  meshrpc kv import nas home.jsonl
  meshrpc kv export home shared/ | meshrpc kv import nas --if-absent`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := io.Reader(os.Stdin)
			if len(args) == 2 && args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return usageError{err}
				}
				defer f.Close()
				in = f
			}
			return runKVImport(cmd.Context(), opts, args[0], in)
		},
	}
	cmd.Flags().BoolVar(&opts.ifAbsent, "if-absent", false, "write only keys that are absent; leave present ones as they are")
	return cmd
}

// importWorkers is how many writes an import keeps in flight.
const importWorkers = 16

func runKVImport(ctx context.Context, opts *importOptions, peer string, in io.Reader) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var written, present atomic.Int64
	lines := make(chan api.PutParams, importWorkers)
	var wg sync.WaitGroup
	for range importWorkers {
		wg.Go(func() {
			for p := range lines {
				if err := importEntry(ctx, c, peer, p, opts.ifAbsent); errors.Is(err, errPresent) {
					present.Add(1)
				} else if err != nil {
					cancel(err)
				} else {
					written.Add(1)
				}
			}
		})
	}
	err = readImportLines(ctx, in, lines)
	close(lines)
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx) // a write that failed, or an interrupt
	}
	summary := fmt.Sprintf("imported %d entries", written.Load())
	if opts.ifAbsent {
		summary += fmt.Sprintf(", left %d present ones as they were", present.Load())
	}
	if err != nil {
		fmt.Fprintf(opts.stderr, "meshrpc: %s before stopping; running the import again finishes it\n", summary)
		return err
	}
	fmt.Fprintf(opts.stderr, "meshrpc: %s\n", summary)
	return nil
}

// errPresent is an --if-absent entry whose key is present.
var errPresent = errors.New("present")

func importEntry(ctx context.Context, c *node.Client, peer string, p api.PutParams, ifAbsent bool) error {
	if !ifAbsent {
		if err := c.Call(ctx, peer, "kv.put", p.Encode(), nil); err != nil {
			return callError(peer, "kv.put", err)
		}
		return nil
	}
	err := c.Call(ctx, peer, "kv.cas", api.CASParams{Key: p.Key, Rev: 0, Value: p.Value}, nil)
	if rpc.CodeOf(err) == rpc.CodeConflict {
		return errPresent
	}
	if err != nil {
		return callError(peer, "kv.cas", err)
	}
	return nil
}

// readImportLines sends each line's entry to lines, checked first: a line
// that is not an entry stops the import with an error naming it.
func readImportLines(ctx context.Context, in io.Reader, lines chan<- api.PutParams) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 2*store.MaxValueBytes+2*store.MaxKeyBytes)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return usagef("line %d is not a JSON entry: %v", n, err)
		}
		if err := store.CheckKey(e.Key); err != nil {
			return usagef("line %d: %v", n, err)
		}
		if e.Value == nil {
			return usagef("line %d has no \"value\"", n)
		}
		select {
		case lines <- api.PutParams{Key: e.Key, Value: e.Value}:
		case <-ctx.Done():
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return usagef("reading the entries: %v", err)
	}
	return nil
}
