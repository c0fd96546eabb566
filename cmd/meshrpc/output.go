package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

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

// oneLine is result compacted, escaped, cut to width for a table cell.
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
	s = escape(s)
	if len(s) > width {
		cut := width - 3
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// escape makes text that a peer chose (a method name, a key, a node name,
// an error message) safe to print as one cell of one row: a tab, newline,
// ESC or any other control or invisible character (C0, DEL, C1, Unicode
// format characters such as bidi overrides) and every byte of invalid
// UTF-8 is written as a Go escape (\t, \n, \x1b, \u202e), and a backslash
// as \\, so that what is printed maps back to one string only. Every
// printer of peer-controlled text goes through it: a forged row or a
// terminal escape sequence can come from nowhere else.
func escape(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[s[i]>>4], "0123456789abcdef"[s[i]&0xf])
		case r == '\\':
			b = append(b, `\\`...)
		case unicode.IsPrint(r):
			b = append(b, s[i:i+size]...)
		default:
			q := strconv.QuoteRuneToASCII(r) // '\t', '\x1b', '\u202e'
			b = append(b, q[1:len(q)-1]...)
		}
		i += size
	}
	return string(b)
}

// escapeAll escapes each of ss.
func escapeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = escape(s)
	}
	return out
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
		fmt.Fprintf(g.stderr, "meshrpc: %s on %s: %s\n", method, peer, escape(r.Signal))
	case r.ExitCode != 0:
		fmt.Fprintf(g.stderr, "meshrpc: %s on %s: exit status %d\n", method, peer, r.ExitCode)
	default:
		return nil
	}
	return silentError{exitCallError}
}
