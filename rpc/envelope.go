package rpc

import (
	"bytes"
	"encoding/json"
	"strings"
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
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return r, false
	}
	i++
	for {
		i = skipSpace(data, i)
		if i < len(data) && data[i] == '}' && r.ID == nil && r.Result == nil && r.Error == nil {
			return r, false // an empty object: let json say what it is
		}
		key, start, end, plain := member(data, i)
		if end < 0 || !r.set(key, data[start:end], plain) {
			return r, false
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return r, false
		}
		switch data[i] {
		case ',':
			i++
		case '}':
			return r, skipSpace(data, i+1) == len(data)
		default:
			return r, false
		}
	}
}

// member finds the object member whose key begins at data[i]: its key
// (unquoted, as written), and its value as data[start:end], plain when the
// value is a string without escapes. end is -1 when it is not a member.
func member(data []byte, i int) (key []byte, start, end int, plain bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, -1, false
	}
	keyEnd := skipString(data, i)
	if keyEnd < 0 {
		return nil, 0, -1, false
	}
	key = data[i+1 : keyEnd-1]
	i = skipSpace(data, keyEnd)
	if i >= len(data) || data[i] != ':' {
		return nil, 0, -1, false
	}
	start = skipSpace(data, i+1)
	if start < len(data) && data[start] == '"' {
		end, plain = stringEnd(data, start)
	} else {
		end = skipValue(data, start)
	}
	return key, start, end, plain
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

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] ('"'),
// or -1.
func skipString(data []byte, i int) int {
	end, _ := stringEnd(data, i)
	return end
}

// skipValue returns the index after the JSON value starting at data[i], or
// -1. It checks only the nesting, not the value's validity.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end := skipString(data, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' &&
		data[j] != ' ' && data[j] != '\t' && data[j] != '\n' && data[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
