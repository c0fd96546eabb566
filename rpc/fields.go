package rpc

import (
	"reflect"
	"strings"
)

// jsonField is one member of the JSON object encoding/json makes of a
// struct. Both the params binder and the result schemas read struct types
// through jsonFields, so a tag means the same thing to both.
type jsonField struct {
	name     string
	index    []int // for reflect.Value.FieldByIndex
	typ      reflect.Type
	optional bool // tagged omitempty or omitzero, or inside an embedded pointer
	tagged   bool // named by its json tag
}

// jsonFields lists the members of the JSON object encoding/json makes of
// the struct type t, in its order. As encoding/json does, it flattens
// embedded structs that have no name in their tag, and of several fields
// with one name it keeps the shallowest, if it is alone at its depth or
// the only one there named by a tag.
func jsonFields(t reflect.Type) []jsonField {
	var all []jsonField
	collectFields(t, nil, false, map[reflect.Type]bool{}, &all)
	depth := map[string]int{}
	for _, f := range all {
		if d, ok := depth[f.name]; !ok || len(f.index) < d {
			depth[f.name] = len(f.index)
		}
	}
	var out []jsonField
	for _, f := range all {
		if len(f.index) == depth[f.name] && dominant(all, f) {
			out = append(out, f)
		}
	}
	return out
}

// dominant reports whether f wins among the fields of its name and depth.
func dominant(all []jsonField, f jsonField) bool {
	rivals, tagged := 0, 0
	for _, g := range all {
		if g.name == f.name && len(g.index) == len(f.index) {
			rivals++
			if g.tagged {
				tagged++
			}
		}
	}
	return rivals == 1 || (f.tagged && tagged == 1)
}

func collectFields(t reflect.Type, index []int, optional bool, seen map[reflect.Type]bool, out *[]jsonField) {
	if seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(index[:len(index):len(index)], i)
		ft := sf.Type
		embedded, viaPointer := ft, false
		if sf.Anonymous && embedded.Kind() == reflect.Pointer {
			embedded, viaPointer = embedded.Elem(), true
		}
		isStruct := embedded.Kind() == reflect.Struct
		switch {
		case sf.Anonymous && isStruct && name == "":
			collectFields(embedded, idx, optional || viaPointer, seen, out)
			continue
		case !sf.IsExported() && !(sf.Anonymous && isStruct):
			// An unexported embedded struct is still a member (or
			// flattened): its exported fields are reachable.
			continue
		}
		f := jsonField{name: name, index: idx, typ: ft, tagged: name != ""}
		if name == "" {
			f.name = sf.Name
		}
		f.optional = optional || hasOption(opts, "omitempty") || hasOption(opts, "omitzero")
		*out = append(*out, f)
	}
}

func hasOption(opts, want string) bool {
	for opt := range strings.SplitSeq(opts, ",") {
		if opt == want {
			return true
		}
	}
	return false
}

// fieldByIndex is reflect.Value.FieldByIndex for a value being filled in:
// it allocates the embedded pointers on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}
