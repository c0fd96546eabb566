package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
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
