package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/meshrpc/meshrpc/node/command"
)

// printJSON writes v as indented JSON and a newline.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printJSONLine writes v as one line of JSON, for streams of events.
func printJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printResult writes a call's result: indented JSON, or with raw a string
// result without quotes.
func printResult(w io.Writer, result json.RawMessage, raw bool) error {
	if raw {
		var s string
		if json.Unmarshal(result, &s) == nil {
			_, err := fmt.Fprintln(w, s)
			return err
		}
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, result, "", "  "); err != nil {
		_, err := fmt.Fprintf(w, "%s\n", result)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// oneLine is result compacted, cut to width for a table cell.
func oneLine(result json.RawMessage, width int) string {
	var buf bytes.Buffer
	if json.Compact(&buf, result) != nil {
		buf.Reset()
		buf.Write(result)
	}
	s := buf.String()
	var str string
	if len(result) > 0 && result[0] == '"' && json.Unmarshal(result, &str) == nil {
		s = str
	}
	if len(s) > width {
		s = s[:width-3] + "..."
	}
	return s
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// commandResult recognises the result of a program served as a procedure.
func commandResult(result json.RawMessage) (*command.Result, bool) {
	var shape map[string]json.RawMessage
	if json.Unmarshal(result, &shape) != nil || shape["exit_code"] == nil || shape["stdout"] == nil || shape["stderr"] == nil {
		return nil, false
	}
	var r command.Result
	return &r, json.Unmarshal(result, &r) == nil
}

// printCommandResult prints a program's output as it printed it, and fails
// (exit 1) when the program did.
func printCommandResult(g *globalOptions, peer, method string, r *command.Result) error {
	for _, out := range []struct {
		w        io.Writer
		text     string
		encoding string
	}{{g.stdout, r.Stdout, r.StdoutEncoding}, {g.stderr, r.Stderr, r.StderrEncoding}} {
		b := []byte(out.text)
		if out.encoding == "base64" {
			b, _ = base64.StdEncoding.DecodeString(out.text)
		}
		out.w.Write(b)
	}
	if r.StdoutTruncated || r.StderrTruncated {
		fmt.Fprintf(g.stderr, "meshrpc: %s on %s: output cut at the procedure's max_output\n", method, peer)
	}
	switch {
	case r.TimedOut:
		fmt.Fprintf(g.stderr, "meshrpc: %s on %s: killed after its timeout (%.1fs)\n", method, peer, r.DurationMs/1000)
	case r.Signal != "":
		fmt.Fprintf(g.stderr, "meshrpc: %s on %s: %s\n", method, peer, r.Signal)
	case r.ExitCode != 0:
		fmt.Fprintf(g.stderr, "meshrpc: %s on %s: exit status %d\n", method, peer, r.ExitCode)
	default:
		return nil
	}
	return silentError{exitCallError}
}
