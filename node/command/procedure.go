package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/meshrpc/meshrpc/rpc"
)

// MaxArgBytes bounds one argument: Linux refuses to start a program with
// an argument of 128 KiB or more (MAX_ARG_STRLEN), which would otherwise
// look like a program that cannot start (-32005) rather than bad params.
const MaxArgBytes = 128 << 10

// timeoutGrace is how much longer than a command's own timeout the server
// lets the call run, so that the killed program's output still reaches the
// caller as a Result with TimedOut set.
const timeoutGrace = 5 * time.Second

// Procedure checks s and returns it as a procedure. Each call binds the
// params, runs the program and returns a *Result; at most s.MaxConcurrent
// copies run at once.
func Procedure(s Spec) (*rpc.Procedure, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	s.Argv = append([]string(nil), s.Argv...)
	declared := make([]rpc.Param, len(s.Params))
	patterns := make([]*regexp.Regexp, len(s.Params))
	for i, p := range s.Params {
		declared[i] = rpc.Param{Name: p.Name, Required: !p.Optional, Schema: p.schema()}
		if p.Pattern != "" {
			patterns[i] = regexp.MustCompile(anchored(p.Pattern)) // Check compiled it
		}
	}
	slots := make(chan struct{}, s.maxConcurrent())
	summary := s.Description
	if summary == "" {
		summary = "Runs " + strings.Join(s.Argv, " ") + "."
	}
	return &rpc.Procedure{
		Name:     s.Name,
		Summary:  summary,
		Params:   declared,
		Result:   resultSchema,
		ReadOnly: s.ReadOnly,
		Timeout:  s.timeout() + timeoutGrace,
		Handler: rpc.HandlerFunc(func(ctx context.Context, raw json.RawMessage) (any, error) {
			items, err := rpc.BindParams(s.Name, declared, raw)
			if err != nil {
				return nil, err
			}
			values := map[string]*string{}
			for i, p := range s.Params {
				v, err := p.value(s.Name, items[i], patterns[i])
				if err != nil {
					return nil, err
				}
				values[p.Name] = v
			}
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				return nil, &rpc.Error{Code: rpc.CodeTooManyRequests, Message: fmt.Sprintf(
					"%s already runs %d copies, its limit (max_concurrent); try again when one finishes", s.Name, cap(slots))}
			}
			res, err := s.run(ctx, s.argv(values), callEnv(ctx, s.Name))
			if errors.Is(err, errProgram) {
				return nil, &rpc.Error{Code: rpc.CodeUnavailable, Message: fmt.Sprintf("%s: %v", s.Name, err)}
			}
			return res, err
		}),
	}, nil
}

// argv substitutes param values into s.Argv; an absent optional param's
// element is dropped.
func (s *Spec) argv(values map[string]*string) []string {
	out := make([]string, 0, len(s.Argv))
	for _, arg := range s.Argv {
		if name, ok := placeholder(arg); ok {
			if v, declared := values[name]; declared {
				if v != nil {
					out = append(out, *v)
				}
				continue
			}
		}
		out = append(out, arg)
	}
	return out
}

// callEnv tells the program who called it and as which call.
func callEnv(ctx context.Context, method string) []string {
	env := []string{"MESHRPC_METHOD=" + method}
	if id := rpc.CallIDFrom(ctx); id != "" {
		env = append(env, "MESHRPC_CALL_ID="+id)
	}
	if c, ok := rpc.CallerFrom(ctx); ok {
		env = append(env,
			"MESHRPC_CALLER_NODE="+c.Node,
			"MESHRPC_CALLER_LOGIN="+c.Login,
			"MESHRPC_CALLER_TAGS="+strings.Join(c.Tags, ","))
	}
	return env
}

// value converts one bound param to its argument: nil when absent and
// without a default.
func (p *Param) value(method string, item json.RawMessage, pattern *regexp.Regexp) (*string, error) {
	if item == nil || bytes.Equal(bytes.TrimSpace(item), []byte("null")) {
		if !p.Optional {
			return nil, invalid(method, "param %q is required and may not be null", p.Name)
		}
		if p.Default == "" {
			return nil, nil
		}
		return &p.Default, nil
	}
	s, err := p.text(item)
	if err != nil {
		return nil, invalid(method, "%v", err)
	}
	if len(s) >= MaxArgBytes {
		return nil, invalid(method, "param %q is %d bytes; a program argument holds less than %d", p.Name, len(s), MaxArgBytes)
	}
	if pattern != nil && !pattern.MatchString(s) {
		return nil, invalid(method, "param %q: %q does not match the pattern %s", p.Name, s, p.Pattern)
	}
	return &s, nil
}

// text renders a JSON value of the param's type as an argument.
func (p *Param) text(item json.RawMessage) (string, error) {
	typ := p.typ()
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("param %q: %v", p.Name, err)
	}
	wrong := fmt.Errorf("param %q must be %s %s", p.Name, article(typ), typ)
	switch v := v.(type) {
	case string:
		if typ != "string" {
			return "", wrong
		}
		if strings.IndexByte(v, 0) >= 0 {
			return "", fmt.Errorf("param %q holds a NUL byte, which no program argument can", p.Name)
		}
		return v, nil
	case json.Number:
		switch typ {
		case "integer":
			n, err := strconv.ParseInt(v.String(), 10, 64)
			if err != nil {
				return "", fmt.Errorf("param %q must be an integer, not %s", p.Name, v)
			}
			return strconv.FormatInt(n, 10), nil
		case "number":
			f, err := v.Float64()
			if err != nil {
				return "", fmt.Errorf("param %q: %v", p.Name, err)
			}
			return strconv.FormatFloat(f, 'f', -1, 64), nil
		}
	case bool:
		if typ == "boolean" {
			return strconv.FormatBool(v), nil
		}
	}
	return "", wrong
}

// check validates a default given as text.
func (p *Param) check(s string) error {
	var err error
	switch p.typ() {
	case "integer":
		_, err = strconv.ParseInt(s, 10, 64)
	case "number":
		_, err = strconv.ParseFloat(s, 64)
	case "boolean":
		_, err = strconv.ParseBool(s)
	}
	if err != nil {
		return fmt.Errorf("%q is not %s %s", s, article(p.typ()), p.typ())
	}
	if p.Pattern != "" {
		if re, err := regexp.Compile(anchored(p.Pattern)); err == nil && !re.MatchString(s) {
			return fmt.Errorf("%q does not match the pattern %s", s, p.Pattern)
		}
	}
	return nil
}

func (p *Param) typ() string {
	if p.Type == "" {
		return "string"
	}
	return p.Type
}

func (p *Param) schema() rpc.Schema {
	sc := rpc.Schema{"type": p.typ()}
	if p.Description != "" {
		sc["description"] = p.Description
	}
	if p.Pattern != "" {
		sc["pattern"] = p.Pattern
	}
	if p.Default != "" {
		sc["default"] = p.Default
	}
	return sc
}

// anchored makes a pattern match whole values only.
func anchored(pattern string) string { return `^(?:` + pattern + `)$` }

func article(typ string) string {
	if typ == "integer" {
		return "an"
	}
	return "a"
}

func invalid(method, format string, args ...any) error {
	return &rpc.Error{Code: rpc.CodeInvalidParams, Message: "invalid params for " + method + ": " + fmt.Sprintf(format, args...)}
}

var resultSchema = rpc.Schema{
	"type": "object",
	"properties": rpc.Schema{
		"exit_code":        rpc.Schema{"type": "integer"},
		"signal":           rpc.Schema{"type": "string"},
		"timed_out":        rpc.Schema{"type": "boolean"},
		"stdout":           rpc.Schema{"type": "string"},
		"stderr":           rpc.Schema{"type": "string"},
		"stdout_encoding":  rpc.Schema{"type": "string", "enum": []any{"base64"}},
		"stderr_encoding":  rpc.Schema{"type": "string", "enum": []any{"base64"}},
		"stdout_truncated": rpc.Schema{"type": "boolean"},
		"stderr_truncated": rpc.Schema{"type": "boolean"},
		"duration_ms":      rpc.Schema{"type": "number"},
	},
	"required": []any{"exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "duration_ms"},
}
