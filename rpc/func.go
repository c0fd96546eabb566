package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// RegisterFunc registers a plain Go function as the procedure name, for
// when a params struct is more than the function needs:
//
//	rpc.RegisterFunc(reg, "add", func(a, b int) int { return a + b })
//
// fn may take a context.Context first; its other parameters are the
// procedure's, by position, all required, named "arg1", "arg2", ... (Go
// does not keep parameter names), each decoded from JSON into its type. It
// may return nothing, a result, an error, or a result and an error. It
// panics when fn is not such a function. Register, with a params struct,
// gives params their names and optional ones.
func RegisterFunc(r *Registry, name string, fn any) *Procedure {
	f := reflect.ValueOf(fn)
	t := f.Type()
	if t.Kind() != reflect.Func || t.IsVariadic() {
		panic(fmt.Sprintf("rpc: RegisterFunc %q: %T is not a function of fixed arguments", name, fn))
	}
	first := 0
	if t.NumIn() > 0 && t.In(0) == contextType {
		first = 1
	}
	results, err := funcResults(t)
	if err != nil {
		panic(fmt.Sprintf("rpc: RegisterFunc %q: %v", name, err))
	}
	params := make([]Param, 0, t.NumIn()-first)
	for i := first; i < t.NumIn(); i++ {
		params = append(params, Param{Name: fmt.Sprintf("arg%d", i-first+1), Required: true, Schema: schemaOf(t.In(i))})
	}
	p := &Procedure{Name: name, Params: params, Result: results.schema,
		Handler: HandlerFunc(func(ctx context.Context, raw json.RawMessage) (any, error) {
			values, err := BindParams(name, params, raw)
			if err != nil {
				return nil, err
			}
			in := make([]reflect.Value, 0, t.NumIn())
			if first == 1 {
				in = append(in, reflect.ValueOf(ctx))
			}
			for i, v := range values {
				arg := reflect.New(t.In(first + i))
				if err := json.Unmarshal(v, arg.Interface()); err != nil {
					return nil, invalidParams(name, "%s: %v", params[i].Name, err)
				}
				in = append(in, arg.Elem())
			}
			return results.split(f.Call(in))
		})}
	r.Handle(p)
	return p
}

// funcResult says where a function's result and error are among its
// results.
type funcResult struct {
	value, err int // indexes, -1 for none
	schema     Schema
}

func funcResults(t reflect.Type) (funcResult, error) {
	r := funcResult{value: -1, err: -1, schema: Schema{}}
	switch n := t.NumOut(); {
	case n > 2:
		return r, fmt.Errorf("%v returns %d values; want at most a result and an error", t, n)
	case n == 2 && t.Out(1) != errorType:
		return r, fmt.Errorf("%v: the second result must be an error", t)
	case n == 2:
		r.value, r.err = 0, 1
	case n == 1 && t.Out(0) == errorType:
		r.err = 0
	case n == 1:
		r.value = 0
	}
	if r.value >= 0 {
		r.schema = schemaOf(t.Out(r.value))
	}
	return r, nil
}

func (r funcResult) split(out []reflect.Value) (any, error) {
	if r.err >= 0 && !out[r.err].IsNil() {
		return nil, out[r.err].Interface().(error)
	}
	if r.value < 0 {
		return nil, nil
	}
	return out[r.value].Interface(), nil
}
