package rpc

import (
	"encoding"
	"encoding/json"
	"reflect"
	"time"
)

// Schema is a JSON Schema, as rpc.discover publishes it.
type Schema map[string]any

var rawMessageType = reflect.TypeFor[json.RawMessage]()
var durationType = reflect.TypeFor[time.Duration]()
var timeType = reflect.TypeFor[time.Time]()
var jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

// implements reports whether t has the interface's methods. (A method on
// *t counts with encoding/json only where the value is addressable; no
// published type has one.)
func implements(t, iface reflect.Type) bool { return t.Implements(iface) }

// schemaOf describes the JSON that encoding/json makes of t.
func schemaOf(t reflect.Type) Schema {
	return schemaDepth(t, 0)
}

func schemaDepth(t reflect.Type, depth int) Schema {
	if t == nil || depth > 8 {
		return Schema{}
	}
	switch t {
	case rawMessageType:
		return Schema{}
	case timeType:
		return Schema{"type": "string", "format": "date-time"}
	case durationType:
		return Schema{"type": "integer", "description": "nanoseconds"}
	}
	// As encoding/json does: a type's own MarshalJSON may make any JSON,
	// its MarshalText makes a string (netip.Addr, for one).
	switch {
	case implements(t, jsonMarshalerType):
		return Schema{}
	case implements(t, textMarshalerType):
		return Schema{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Schema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return Schema{"type": "number"}
	case reflect.String:
		return Schema{"type": "string"}
	case reflect.Pointer:
		inner := schemaDepth(t.Elem(), depth+1)
		return Schema{"oneOf": []any{inner, Schema{"type": "null"}}}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return Schema{"type": "string", "contentEncoding": "base64"}
		}
		return Schema{"type": "array", "items": schemaDepth(t.Elem(), depth+1)}
	case reflect.Map:
		return Schema{"type": "object", "additionalProperties": schemaDepth(t.Elem(), depth+1)}
	case reflect.Struct:
		props := Schema{}
		var required []string
		for _, f := range jsonFields(t) {
			props[f.name] = schemaDepth(f.typ, depth+1)
			if !f.optional {
				required = append(required, f.name)
			}
		}
		s := Schema{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return Schema{}
}

// describe names the schema's type for an error message: "an integer".
func (s Schema) describe() string {
	switch s["type"] {
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "string":
		return "a string"
	case "boolean":
		return "a boolean"
	case "array":
		return "an array"
	case "object":
		return "an object"
	}
	if alts, ok := s["oneOf"].([]any); ok && len(alts) > 0 {
		if inner, ok := alts[0].(Schema); ok {
			return inner.describe() + " or null"
		}
	}
	return "any JSON value"
}
