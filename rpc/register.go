package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
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
// A string field tagged rpc:"key" (or rpc:"prefix") names the store key
// (or every key under the prefix) the procedure touches. The server then
// authorizes the call on that key before the handler runs and sets the
// field to the key as granted (see Access and GrantFrom), so the handler
// never authorizes. A slice of structs tagged rpc:"keys", whose elements
// each have a string field tagged rpc:"key", names several keys
// (EachKey): each is authorized, and set to the key as granted, in the
// same way.
//
//	type IncParams struct {
//		Key   string `json:"key" rpc:"key"`
//		Delta int64  `json:"delta,omitempty"`
//	}
//	rpc.Register(reg, "kv.inc", "Adds delta (default 1) to key.", inc)
func Register[P, R any](r *Registry, name, summary string, fn func(ctx context.Context, params P) (R, error)) *Procedure {
	b := newBinder(reflect.TypeFor[P](), name)
	p := &Procedure{
		Name:     name,
		Summary:  summary,
		Params:   b.params(),
		Result:   schemaOf(reflect.TypeFor[R]()),
		Keys:     b.keys,
		KeyParam: b.keyParam,
		Handler: HandlerFunc(func(ctx context.Context, raw json.RawMessage) (any, error) {
			var params P
			if err := checkJSON(name, raw); err != nil {
				return nil, err
			}
			if err := b.bind(raw, &params); err != nil {
				return nil, err
			}
			return fn(ctx, params)
		}),
	}
	p.bind = func(raw json.RawMessage) (boundCall, error) {
		c := &typedCall[P, R]{fn: fn, keyField: b.keyField, elemKey: b.elemKey}
		return c, b.bind(raw, &c.params)
	}
	r.Handle(p)
	return p
}

// boundCall is a call whose params are bound: the server reads the key it
// names for authorization, hands the granted key back, then runs it.
type boundCall interface {
	key() string
	setKey(string)
	run(ctx context.Context) (any, error)
}

type typedCall[P, R any] struct {
	params   P
	fn       func(context.Context, P) (R, error)
	keyField int // index of the field tagged rpc:"key", rpc:"prefix" or rpc:"keys"; -1 if none
	elemKey  int // for rpc:"keys", the key field's index in an element; else -1
}

func (c *typedCall[P, R]) key() string {
	if c.keyField < 0 || c.elemKey >= 0 {
		return ""
	}
	return reflect.ValueOf(&c.params).Elem().Field(c.keyField).String()
}

func (c *typedCall[P, R]) setKey(k string) {
	if c.keyField >= 0 && c.elemKey < 0 {
		reflect.ValueOf(&c.params).Elem().Field(c.keyField).SetString(k)
	}
}

func (c *typedCall[P, R]) run(ctx context.Context) (any, error) { return c.fn(ctx, c.params) }

// rawCall runs a plain Handler: its params are its own to bind.
type rawCall struct {
	h      Handler
	params json.RawMessage
}

func (rawCall) key() string                            { return "" }
func (rawCall) setKey(string)                          {}
func (c rawCall) run(ctx context.Context) (any, error) { return c.h.ServeRPC(ctx, c.params) }

// keyCall runs a plain Handler that declares its key in KeyParam: its
// params are bound to the declared names, so that the key can be read
// before the handler runs and replaced with the granted one.
type keyCall struct {
	p        *Procedure
	values   []json.RawMessage // one per declared param, nil where absent
	at       int               // KeyParam's index
	keyValue string
}

func bindKeyParam(p *Procedure, raw json.RawMessage) (boundCall, error) {
	values, err := bindParams(p.Name, p.Params, raw)
	if err != nil {
		return nil, err
	}
	c := &keyCall{p: p, values: values, at: slices.IndexFunc(p.Params, func(prm Param) bool { return prm.Name == p.KeyParam })}
	if v := values[c.at]; v != nil {
		if json.Unmarshal(v, &c.keyValue) != nil {
			return nil, invalidParams(p.Name, "%s must be a string (a key)", p.KeyParam)
		}
	}
	return c, nil
}

func (c *keyCall) key() string { return c.keyValue }

func (c *keyCall) setKey(k string) {
	c.keyValue = k
	c.values[c.at], _ = json.Marshal(k)
}

func (c *keyCall) run(ctx context.Context) (any, error) {
	obj := []byte{'{'}
	for i, v := range c.values {
		if v == nil {
			continue
		}
		if len(obj) > 1 {
			obj = append(obj, ',')
		}
		obj = jsonfast.AppendString(obj, c.p.Params[i].Name)
		obj = append(append(obj, ':'), v...)
	}
	return c.p.Handler.ServeRPC(ctx, append(obj, '}'))
}

// binder binds JSON params, named or positional, to a params struct. It is
// built once per procedure, so a call does no reflection beyond decoding.
type binder struct {
	method   string
	fields   []field
	declared []Param
	keys     KeyUse // what the field tagged rpc:"key", rpc:"prefix" or rpc:"keys" names
	keyField int    // that field's index in the struct, -1 if none
	elemKey  int    // for rpc:"keys", the key field's index in an element, else -1
	keyParam string // that field's param name
}

type field struct {
	name     string
	index    []int
	required bool
	typ      reflect.Type
}

func newBinder(t reflect.Type, method string) *binder {
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("rpc: Register %q: params type %v is not a struct", method, t))
	}
	b := &binder{method: method, keyField: -1, elemKey: -1}
	for i := range t.NumField() {
		if sf := t.Field(i); sf.IsExported() {
			b.declareKey(sf, i)
		}
	}
	zero := reflect.New(t).Elem()
	for _, f := range jsonFields(t) {
		if !fieldByIndex(zero, f.index).CanSet() {
			panic(fmt.Sprintf("rpc: Register %q: param %q of %v is in an unexported field", method, f.name, t))
		}
		b.fields = append(b.fields, field{name: f.name, index: f.index, required: !f.optional, typ: f.typ})
	}
	b.declared = make([]Param, len(b.fields))
	for i, f := range b.fields {
		b.declared[i] = Param{Name: f.name, Required: f.required, Schema: schemaOf(f.typ)}
		if len(f.index) == 1 && f.index[0] == b.keyField {
			b.keyParam = f.name
		}
	}
	return b
}

// declareKey notes the field tagged rpc:"key" or rpc:"prefix": the key the
// procedure touches, which the server authorizes before the handler runs.
func (b *binder) declareKey(sf reflect.StructField, i int) {
	var use KeyUse
	switch tag := sf.Tag.Get("rpc"); tag {
	case "":
		return
	case "key":
		use = OneKey
	case "prefix":
		use = KeyPrefix
	case "keys":
		use = EachKey
	default:
		panic(fmt.Sprintf("rpc: Register %q: field %s: unknown tag rpc:%q (want \"key\", \"prefix\" or \"keys\")", b.method, sf.Name, tag))
	}
	if b.keyField >= 0 {
		panic(fmt.Sprintf("rpc: Register %q: field %s: a procedure declares its keys in one field", b.method, sf.Name))
	}
	if use == EachKey {
		b.elemKey = elemKeyField(sf.Type)
		if b.elemKey < 0 {
			panic(fmt.Sprintf("rpc: Register %q: field %s: rpc:\"keys\" tags a slice of structs with a string field tagged rpc:\"key\"", b.method, sf.Name))
		}
	} else if sf.Type.Kind() != reflect.String {
		panic(fmt.Sprintf("rpc: Register %q: field %s: a key or prefix is a string", b.method, sf.Name))
	}
	b.keys, b.keyField = use, i
}

// elemKeyField is the index of the string field tagged rpc:"key" in the
// structs of the slice type t, or -1.
func elemKeyField(t reflect.Type) int {
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Struct {
		return -1
	}
	e := t.Elem()
	for i := range e.NumField() {
		if f := e.Field(i); f.IsExported() && f.Tag.Get("rpc") == "key" && f.Type.Kind() == reflect.String {
			return i
		}
	}
	return -1
}

func (b *binder) params() []Param { return slices.Clone(b.declared) }

func (b *binder) bind(raw json.RawMessage, dst any) error {
	items, err := bindParams(b.method, b.declared, raw)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(dst).Elem()
	for i, item := range items {
		if item != nil {
			if err := b.set(v, b.fields[i], item); err != nil {
				return err
			}
		}
	}
	return nil
}

// BindParams matches a request's params, given by name (an object) or by
// position (an array), to the declared params of method. It returns one raw
// value per declared param, nil where absent, or an invalid-params error that
// says what is wrong. Register uses it; so can handlers with params known
// only at run time, such as commands from a config file.
//
// raw must be JSON: anything encoding/json would reject (such as [+5]) is
// an invalid-params error, never bound.
func BindParams(method string, declared []Param, raw json.RawMessage) ([]json.RawMessage, error) {
	if err := checkJSON(method, raw); err != nil {
		return nil, err
	}
	return bindParams(method, declared, raw)
}

// checkJSON refuses params that are not JSON. The server has checked a
// whole request body before any of its params reach a binder; a Handler
// called directly, or BindParams, has not.
func checkJSON(method string, raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) > 0 && !json.Valid(raw) {
		return invalidParams(method, "params are not valid JSON")
	}
	return nil
}

// bindParams is BindParams for params known to be JSON: its fast scans
// check nesting, not every token.
func bindParams(method string, declared []Param, raw json.RawMessage) ([]json.RawMessage, error) {
	items := make([]json.RawMessage, len(declared))
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '[':
		list, ok := jsonfast.SplitArray(raw)
		if !ok {
			if err := json.Unmarshal(raw, &list); err != nil {
				return nil, invalidParams(method, "params: %v", err)
			}
		}
		if len(list) > len(declared) {
			return nil, invalidParams(method, "%d params given, but %s takes at most %d (%s)", len(list), method, len(declared), paramNames(declared))
		}
		copy(items, list)
	case raw[0] == '{':
		var obj map[string]json.RawMessage
		if keys, vals, ok := jsonfast.SplitObject(raw); ok {
			obj = make(map[string]json.RawMessage, len(keys))
			for i, k := range keys {
				obj[k] = vals[i] // the last of a repeated key, as encoding/json does
			}
		} else if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, invalidParams(method, "params: %v", err)
		}
		for i, p := range declared {
			if item, ok := obj[p.Name]; ok {
				items[i] = item
				delete(obj, p.Name)
			}
		}
		for name := range obj {
			return nil, invalidParams(method, "unknown param %q; %s takes: %s", name, method, paramNames(declared))
		}
	default:
		return nil, invalidParams(method, "params must be an object (by name) or an array (by position), not %s", jsonKind(raw))
	}
	for i, p := range declared {
		if p.Required && items[i] == nil {
			return nil, invalidParams(method, "missing required param %q; %s takes: %s", p.Name, method, paramNames(declared))
		}
	}
	return items, nil
}

// paramNames lists declared params for messages: "key, delta".
func paramNames(declared []Param) string {
	if len(declared) == 0 {
		return "no params"
	}
	names := make([]string, len(declared))
	for i, p := range declared {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func invalidParams(method, format string, args ...any) error {
	return &Error{Code: CodeInvalidParams, Message: "invalid params for " + method + ": " + fmt.Sprintf(format, args...)}
}

func (b *binder) set(v reflect.Value, f field, item json.RawMessage) error {
	// The common params, plain strings and integers and raw JSON values,
	// without reflection through encoding/json.
	fv := fieldByIndex(v, f.index)
	switch f.typ.Kind() {
	case reflect.String:
		if s, ok := jsonfast.PlainString(item); ok {
			fv.SetString(s)
			return nil
		}
	case reflect.Slice:
		if f.typ == rawMessageType { // already valid JSON: kept as its bytes, unscanned
			fv.SetBytes(bytes.Clone(item))
			return nil
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n, ok := jsonfast.PlainInt(item); ok && !fv.OverflowInt(n) {
			fv.SetInt(n)
			return nil
		}
	}
	if err := json.Unmarshal(item, fv.Addr().Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalidParams(b.method, "param %q must be %s, not %s", f.name, schemaOf(f.typ).describe(), jsonKind(item))
		}
		return invalidParams(b.method, "param %q: %v", f.name, err)
	}
	return nil
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
