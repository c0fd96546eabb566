package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Register registers fn as the procedure name on r and returns it, so that
// the caller may mark it ReadOnly before serving.
//
// P must be a struct: its exported fields, in declaration order, are the
// procedure's parameters, named by their json tags. A field tagged omitempty
// (or omitzero) is optional; the others are required. Callers may pass params
// by name (a JSON object) or by position (a JSON array, in field order). Use
// struct{} for a procedure without parameters.
//
//	type IncParams struct {
//		Key   string `json:"key"`
//		Delta int64  `json:"delta,omitempty"`
//	}
//	rpc.Register(reg, "kv.inc", "Adds delta (default 1) to key.", inc)
func Register[P, R any](r *Registry, name, summary string, fn func(ctx context.Context, params P) (R, error)) *Procedure {
	b := newBinder(reflect.TypeFor[P](), name)
	p := &Procedure{
		Name:    name,
		Summary: summary,
		Params:  b.params(),
		Result:  schemaOf(reflect.TypeFor[R]()),
		Handler: HandlerFunc(func(ctx context.Context, raw json.RawMessage) (any, error) {
			var params P
			if err := b.bind(raw, &params); err != nil {
				return nil, err
			}
			return fn(ctx, params)
		}),
	}
	r.Handle(p)
	return p
}

// binder binds JSON params, named or positional, to a params struct. It is
// built once per procedure, so a call does no reflection beyond decoding.
type binder struct {
	method string
	fields []field
	names  string // "key, delta", for messages
}

type field struct {
	name     string
	index    int
	required bool
	typ      reflect.Type
}

func newBinder(t reflect.Type, method string) *binder {
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("rpc: Register %q: params type %v is not a struct", method, t))
	}
	b := &binder{method: method}
	var names []string
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		optional := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		b.fields = append(b.fields, field{name: name, index: i, required: !optional, typ: sf.Type})
		names = append(names, name)
	}
	b.names = strings.Join(names, ", ")
	return b
}

func (b *binder) params() []Param {
	ps := make([]Param, len(b.fields))
	for i, f := range b.fields {
		ps[i] = Param{Name: f.name, Required: f.required, Schema: schemaOf(f.typ)}
	}
	return ps
}

func (b *binder) bind(raw json.RawMessage, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	raw = bytes.TrimSpace(raw)
	var present []bool
	switch {
	case len(raw) == 0 || string(raw) == "null":
		present = make([]bool, len(b.fields))
	case raw[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return b.invalid("params: %v", err)
		}
		if len(list) > len(b.fields) {
			return b.invalid("%d params given, but %s takes at most %d (%s)", len(list), b.method, len(b.fields), b.names)
		}
		present = make([]bool, len(b.fields))
		for i, item := range list {
			if err := b.set(v, b.fields[i], item); err != nil {
				return err
			}
			present[i] = true
		}
	case raw[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return b.invalid("params: %v", err)
		}
		present = make([]bool, len(b.fields))
		matched := 0
		for i, f := range b.fields {
			item, ok := obj[f.name]
			if !ok {
				continue
			}
			matched++
			if err := b.set(v, f, item); err != nil {
				return err
			}
			present[i] = true
		}
		if matched != len(obj) {
			for name := range obj {
				if !b.has(name) {
					return b.invalid("unknown param %q; %s takes: %s", name, b.method, b.namesOrNone())
				}
			}
		}
	default:
		return b.invalid("params must be an object (by name) or an array (by position), not %s", jsonKind(raw))
	}
	for i, f := range b.fields {
		if f.required && !present[i] {
			return b.invalid("missing required param %q; %s takes: %s", f.name, b.method, b.names)
		}
	}
	return nil
}

func (b *binder) set(v reflect.Value, f field, item json.RawMessage) error {
	if err := json.Unmarshal(item, v.Field(f.index).Addr().Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return b.invalid("param %q must be %s, not %s", f.name, schemaOf(f.typ).describe(), jsonKind(item))
		}
		return b.invalid("param %q: %v", f.name, err)
	}
	return nil
}

func (b *binder) has(name string) bool {
	for _, f := range b.fields {
		if f.name == name {
			return true
		}
	}
	return false
}

func (b *binder) namesOrNone() string {
	if b.names == "" {
		return "no params"
	}
	return b.names
}

func (b *binder) invalid(format string, args ...any) error {
	return &Error{Code: CodeInvalidParams, Message: "invalid params for " + b.method + ": " + fmt.Sprintf(format, args...)}
}

// jsonKind names the JSON type of a valid JSON value.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
