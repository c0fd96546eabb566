package rpc

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

// decodeResponse reads a JSON-RPC response object. Its members are sliced
// out of data, not copied or validated: the result is validated once, when
// the caller decodes it into its own type. (A plain json.Unmarshal would
// validate and copy a large result twice.) Anything unusual falls back to
// json.Unmarshal.
func decodeResponse(data []byte) (response, error) {
	if r, ok := splitResponse(data); ok {
		return r, nil
	}
	var r response
	err := json.Unmarshal(data, &r)
	return r, err
}

func splitResponse(data []byte) (r response, ok bool) {
	i := jsonfast.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return r, false
	}
	i++
	for {
		i = jsonfast.SkipSpace(data, i)
		if i < len(data) && data[i] == '}' && r.ID == nil && r.Result == nil && r.Error == nil {
			return r, false // an empty object: let json say what it is
		}
		key, start, end, plain := jsonfast.Member(data, i)
		if end < 0 || !r.set(key, data[start:end], plain) {
			return r, false
		}
		i = jsonfast.SkipSpace(data, end)
		if i >= len(data) {
			return r, false
		}
		switch data[i] {
		case ',':
			i++
		case '}':
			return r, jsonfast.SkipSpace(data, i+1) == len(data)
		default:
			return r, false
		}
	}
}

// set takes the member key: value into r, reporting false when only
// encoding/json can read it (an escaped key, a key that differs from a
// known one only in case, an error object it cannot decode).
func (r *response) set(key, value []byte, plain bool) bool {
	if bytes.IndexByte(key, '\\') >= 0 {
		return false // an escaped key: leave it to encoding/json
	}
	switch k := string(key); k {
	case "id":
		r.ID = value
	case "result":
		r.Result, r.plain = value, plain
	case "error":
		if string(value) != "null" {
			r.Error = new(Error)
			if json.Unmarshal(value, r.Error) != nil {
				return false
			}
		}
	default:
		if strings.EqualFold(k, "id") || strings.EqualFold(k, "result") || strings.EqualFold(k, "error") {
			return false // encoding/json would match it; so must we
		}
	}
	return true
}

// decodeResult is json.Unmarshal of r.Result into out, without its
// validating scan for a plain string (r.plain) decoded into a string or kept
// as a json.RawMessage. r.Result is the caller's own: no other reply shares
// its memory, so a json.RawMessage takes it as it is.
func decodeResult(r response, out any) error {
	if r.plain {
		switch out := out.(type) {
		case *json.RawMessage:
			*out = r.Result
			return nil
		case *string:
			if utf8.Valid(r.Result) {
				*out = string(r.Result[1 : len(r.Result)-1])
				return nil
			}
		}
	}
	return json.Unmarshal(r.Result, out)
}
