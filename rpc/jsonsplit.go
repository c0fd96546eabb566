package rpc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// splitArray returns the elements of a JSON array without reflection. It
// reports false for anything it does not handle plainly (malformed JSON
// included); callers then fall back to encoding/json, which says what is
// wrong.
func splitArray(raw []byte) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, false
	}
	var items []json.RawMessage
	i := skipSpace(raw, 1)
	if raw[i] == ']' {
		return items, i == len(raw)-1
	}
	for {
		end, ok := valueEnd(raw, i)
		if !ok {
			return nil, false
		}
		items = append(items, raw[i:end])
		i = skipSpace(raw, end)
		switch {
		case i < len(raw) && raw[i] == ',':
			i = skipSpace(raw, i+1)
		case i == len(raw)-1 && raw[i] == ']':
			return items, true
		default:
			return nil, false
		}
	}
}

// splitObject returns the members of a JSON object whose keys need no
// unescaping, in order; false as for splitArray.
func splitObject(raw []byte) (keys []string, vals []json.RawMessage, ok bool) {
	ok = eachMember(raw, func(key, val []byte) bool {
		keys, vals = append(keys, string(key)), append(vals, val)
		return true
	})
	if !ok {
		return nil, nil, false
	}
	return keys, vals, true
}

// eachMember calls fn with each member of a JSON object whose keys need no
// unescaping, in order, until fn returns false; it reports whether the
// whole object was walked (false as for splitArray).
func eachMember(raw []byte, fn func(key, val []byte) bool) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return false
	}
	i := skipSpace(raw, 1)
	if raw[i] == '}' {
		return i == len(raw)-1
	}
	for {
		if raw[i] != '"' {
			return false
		}
		end, ok := valueEnd(raw, i)
		if !ok || bytes.IndexByte(raw[i:end], '\\') >= 0 || !utf8.Valid(raw[i:end]) {
			return false // encoding/json would unescape or repair the key
		}
		key := raw[i+1 : end-1]
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = skipSpace(raw, i+1)
		if end, ok = valueEnd(raw, i); !ok {
			return false
		}
		if !fn(key, raw[i:end]) {
			return false
		}
		i = skipSpace(raw, end)
		switch {
		case i < len(raw) && raw[i] == ',':
			i = skipSpace(raw, i+1)
		case i == len(raw)-1 && raw[i] == '}':
			return true
		default:
			return false
		}
	}
}

// valueEnd finds where the JSON value starting at b[i] ends (skipValue,
// as a pair).
func valueEnd(b []byte, i int) (int, bool) {
	end := skipValue(b, i)
	return end, end > i
}

// plainString is the value of a JSON string without escapes.
func plainString(item []byte) (string, bool) {
	if len(item) < 2 || item[0] != '"' || item[len(item)-1] != '"' || bytes.IndexByte(item, '\\') >= 0 || !utf8.Valid(item) {
		return "", false
	}
	return string(item[1 : len(item)-1]), true
}

// plainInt is the value of a JSON integer literal.
func plainInt(item []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(item), 10, 64)
	return n, err == nil
}
