package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// parseParams turns command-line arguments into JSON-RPC params: each ARG is
// taken as JSON when it parses as JSON, else as a string; key=value pairs
// make named params (an object), other ARGs positional ones (an array).
// raw, from --params, is used as is. No arguments mean no params.
func parseParams(args []string, raw string) (json.RawMessage, error) {
	if raw != "" {
		if len(args) > 0 {
			return nil, usagef("give params either as arguments or with --params, not both")
		}
		if !json.Valid([]byte(raw)) {
			return nil, usagef("--params is not valid JSON: %s", jsonProblem(raw))
		}
		t := strings.TrimSpace(raw)
		if t == "" || (t[0] != '{' && t[0] != '[') {
			return nil, usagef("--params must be a JSON object (by name) or array (by position)")
		}
		return json.RawMessage(raw), nil
	}
	if len(args) == 0 {
		return nil, nil
	}
	named := map[string]json.RawMessage{}
	var positional []json.RawMessage
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && isParamName(k) {
			named[k] = argValue(v)
			continue
		}
		positional = append(positional, argValue(a))
	}
	switch {
	case len(named) > 0 && len(positional) > 0:
		return nil, usagef("mix of key=value and positional arguments; use one form")
	case len(named) > 0:
		return json.Marshal(named)
	default:
		return json.Marshal(positional)
	}
}

// argValue is a as JSON if it is valid JSON, else a as a JSON string.
func argValue(a string) json.RawMessage {
	if json.Valid([]byte(a)) {
		return json.RawMessage(a)
	}
	b, _ := json.Marshal(a)
	return b
}

func isParamName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// jsonProblem says where raw stops being JSON and why: encoding/json's
// error, at its byte offset, after the text that was still fine.
func jsonProblem(raw string) string {
	var v any
	err := json.Unmarshal([]byte(raw), &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Sprintf("%v in %s", err, raw)
	}
	at := min(int(se.Offset), len(raw))
	if strings.HasPrefix(se.Error(), "unexpected end") {
		return fmt.Sprintf("%v: the text ends too early, after '%s'", se, tail(raw))
	}
	return fmt.Sprintf("%v at byte %d, after '%s'", se, at, tail(raw[:max(at-1, 0)]))
}

// tail is the last 30 bytes of s, the part a reader needs to find a spot.
func tail(s string) string {
	if len(s) > 30 {
		return "..." + s[len(s)-30:]
	}
	return s
}
