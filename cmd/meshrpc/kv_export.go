package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

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
them; "rev" is ignored) from FILE or stdin and write them to PEER,
overwriting what is there, or with --if-absent only where the key is absent.
The entries go in batches of up to 1000 lines (and 1 MiB), each batch one
atomic write (kv.put_all), durable before it is counted: an import that
stopped half way (a bad line, a lost connection, Ctrl-C) leaves every batch
before the one in flight written, that one whole or not at all, and none
after. Running the same import again changes no value, so it finishes such
an import. Lines are read as they come: a file of any size imports in
bounded memory.`,
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

// An import's batches: at most importBatchKeys entries and importBatchBytes
// of params, so that a batch fits the node's default request limit (1 MiB)
// with room for the call around it.
const (
	importBatchKeys  = rpc.MaxCallKeys
	importBatchBytes = 1<<20 - 4<<10
)

// importBatch is the kv.put_all params being gathered: the entries,
// encoded, and their keys (a batch names each key once).
type importBatch struct {
	params []byte
	keys   map[string]bool
}

// fits reports whether the encoded entry e of key may join the batch.
func (b *importBatch) fits(key string, e []byte) bool {
	return len(b.keys) == 0 || (len(b.keys) < importBatchKeys && len(b.params)+len(e)+32 <= importBatchBytes && !b.keys[key])
}

func (b *importBatch) add(key string, e []byte) {
	if len(b.keys) == 0 {
		b.params = append(b.params[:0], `{"entries":[`...)
		b.keys = map[string]bool{}
	} else {
		b.params = append(b.params, ',')
	}
	b.params = append(b.params, e...)
	b.keys[key] = true
}

// take returns the batch's params and empties it.
func (b *importBatch) take(ifAbsent bool) json.RawMessage {
	p := append(b.params, ']')
	if ifAbsent {
		p = append(p, `,"if_absent":true`...)
	}
	b.keys = nil
	return append(p, '}')
}

func runKVImport(ctx context.Context, opts *importOptions, peer string, in io.Reader) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var written, present int
	var b importBatch
	send := func() error {
		if len(b.keys) == 0 {
			return nil
		}
		var res api.PutAllResult
		if err := c.Call(ctx, peer, "kv.put_all", b.take(opts.ifAbsent), &res); err != nil {
			return callError(peer, "kv.put_all", err)
		}
		written, present = written+res.Written, present+res.Present
		return nil
	}
	err = readImportLines(ctx, in, func(p api.PutParams) error {
		e := p.Encode()
		if !b.fits(p.Key, e) {
			if err := send(); err != nil {
				return err
			}
		}
		b.add(p.Key, e)
		return nil
	})
	if err == nil {
		err = send()
	}
	summary := fmt.Sprintf("imported %d entries", written)
	if opts.ifAbsent {
		summary += fmt.Sprintf(", left %d present ones as they were", present)
	}
	if err != nil {
		fmt.Fprintf(opts.stderr, "meshrpc: %s before stopping; running the import again finishes it\n", summary)
		return err
	}
	fmt.Fprintf(opts.stderr, "meshrpc: %s\n", summary)
	return nil
}

// readImportLines calls each with every line's entry, checked first: a
// line that is not an entry stops the import with an error naming it, as
// does an error from each.
func readImportLines(ctx context.Context, in io.Reader, each func(api.PutParams) error) error {
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
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := each(api.PutParams{Key: e.Key, Value: e.Value}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return usagef("reading the entries: %v", err)
	}
	return nil
}
