package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/audit"
)

type auditOptions struct {
	*globalOptions
	json   bool
	follow bool
	lines  int
}

func newCmdAudit(g *globalOptions) *cobra.Command {
	opts := &auditOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the calls this machine's node answered: who, what, outcome",
		Long: `Show the audit log of the node whose state directory this is: every call
that reached it, allowed or denied, with time, caller (node, user, tags),
method, key (for kv.*), outcome and duration. The log is STATE_DIR/audit.log
(0600, rotated at 10 MiB, one previous file kept as audit.log.1).

--follow keeps printing new calls until interrupted; --json prints the log's
own JSON lines.`,
		Example: `  meshrpc audit
  meshrpc audit -n 200 --json | jq 'select(.outcome == "denied")'
  meshrpc audit --follow`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return runAudit(cmd.Context(), opts) },
	}
	f := cmd.Flags()
	f.BoolVar(&opts.json, "json", false, "print the log's JSON lines")
	f.BoolVarP(&opts.follow, "follow", "f", false, "keep printing new calls until interrupted")
	f.IntVarP(&opts.lines, "lines", "n", 50, "print the last N calls first (0: all)")
	return cmd
}

func runAudit(ctx context.Context, opts *auditOptions) error {
	dir := opts.stateDir
	if dir == "" {
		d, err := mesh.DefaultStateDir()
		if err != nil {
			return err
		}
		dir = d
	}
	path := filepath.Join(dir, node.AuditLogName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !opts.follow {
		return fmt.Errorf("no audit log at %s: has meshrpc serve run with this state directory (--state-dir)?", path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var last []string
	if f != nil {
		last, err = tailLines(f, opts.lines)
		if err != nil {
			return err
		}
	}
	p := auditPrinter{opts: opts}
	for _, line := range last {
		p.print(line)
	}
	if !opts.follow {
		if f != nil {
			f.Close()
		}
		return p.flush()
	}
	p.flush()
	return followLog(ctx, path, f, p.printFlush)
}

// tailLines reads r to its end and returns its last n lines (all for 0).
func tailLines(r io.Reader, n int) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if n > 0 && len(lines) > 2*n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, sc.Err()
}

// followLog prints lines appended to path from f's position on, reopening
// it when it is rotated, until ctx ends.
func followLog(ctx context.Context, path string, f *os.File, print func(string)) error {
	var r *bufio.Reader
	if f != nil {
		r = bufio.NewReader(f)
	}
	var partial string
	for {
		if r != nil {
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					partial += line
					break
				}
				print(strings.TrimSuffix(partial+line, "\n"))
				partial = ""
			}
		}
		select {
		case <-ctx.Done():
			if f != nil {
				f.Close()
			}
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		// Rotated (or created): the path names another file now.
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		if f != nil {
			if cur, err := f.Stat(); err == nil && os.SameFile(fi, cur) {
				continue
			}
			f.Close()
		}
		if f, err = os.Open(path); err != nil {
			f, r = nil, nil
			continue
		}
		r, partial = bufio.NewReader(f), ""
	}
}

// auditPrinter prints records as a table or as JSON lines.
type auditPrinter struct {
	opts *auditOptions
	tw   *tabwriter.Writer
}

func (p *auditPrinter) print(line string) {
	if p.opts.json {
		fmt.Fprintln(p.opts.stdout, line)
		return
	}
	var r audit.Record
	if json.Unmarshal([]byte(line), &r) != nil {
		return
	}
	if p.tw == nil {
		p.tw = newTable(p.opts.stdout)
		fmt.Fprintln(p.tw, "TIME\tCALLER\tMETHOD\tKEY\tOUTCOME\tDURATION")
	}
	if r.Dropped > 0 {
		fmt.Fprintf(p.tw, "%s\t-\t-\t-\t%d records lost (the log fell behind)\t-\n", r.Time.Local().Format(time.DateTime), r.Dropped)
		return
	}
	caller := escape(r.Node)
	if r.Login != "" {
		caller += " (" + escape(r.Login) + ")"
	}
	if len(r.Tags) > 0 {
		caller += " " + strings.Join(escapeAll(r.Tags), ",")
	}
	outcome := escape(r.Outcome)
	if r.Code != 0 {
		outcome = fmt.Sprintf("%s %d", r.Outcome, r.Code)
	}
	if r.Replayed {
		outcome += " (retry)"
	}
	if r.Outcome == audit.OutcomeSuppressed {
		outcome += ": " + escape(r.Error) // how many refusals it stands for
	}
	method, key := escape(r.Method), escape(r.Key)
	if method == "" {
		method = "-"
	}
	if key == "" {
		key = "-"
	}
	fmt.Fprintf(p.tw, "%s\t%s\t%s\t%s\t%s\t%.1fms\n", r.Time.Local().Format(time.DateTime), caller, method, key, outcome, r.DurationMs)
}

func (p *auditPrinter) flush() error {
	if p.tw != nil {
		return p.tw.Flush()
	}
	return nil
}

func (p *auditPrinter) printFlush(line string) {
	p.print(line)
	p.flush()
}
