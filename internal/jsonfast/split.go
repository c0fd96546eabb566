package jsonfast

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// SplitArray returns the elements of a JSON array without reflection. It
// reports false for anything it does not handle plainly (malformed JSON
// included); callers then fall back to encoding/json, which says what is
// wrong.
func SplitArray(raw []byte) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, false
	}
	var items []json.RawMessage
	i := SkipSpace(raw, 1)
	if raw[i] == ']' {
		return items, i == len(raw)-1
	}
	for {
		end, ok := ValueEnd(raw, i)
		if !ok {
			return nil, false
		}
		items = append(items, raw[i:end])
		i = SkipSpace(raw, end)
		switch {
		case i < len(raw) && raw[i] == ',':
			i = SkipSpace(raw, i+1)
		case i == len(raw)-1 && raw[i] == ']':
			return items, true
		default:
			return nil, false
		}
	}
}

// SplitObject returns the members of a JSON object whose keys need no
// unescaping, in order; false as for SplitArray.
func SplitObject(raw []byte) (keys []string, vals []json.RawMessage, ok bool) {
	ok = EachMember(raw, func(key, val []byte) bool {
		keys, vals = append(keys, string(key)), append(vals, val)
		return true
	})
	if !ok {
		return nil, nil, false
	}
	return keys, vals, true
}

// EachMember calls fn with each member of a JSON object whose keys need no
// unescaping, in order, until fn returns false; it reports whether the
// whole object was walked (false as for SplitArray).
func EachMember(raw []byte, fn func(key, val []byte) bool) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return false
	}
	i := SkipSpace(raw, 1)
	if raw[i] == '}' {
		return i == len(raw)-1
	}
	for {
		if raw[i] != '"' {
			return false
		}
		end, ok := ValueEnd(raw, i)
		if !ok || bytes.IndexByte(raw[i:end], '\\') >= 0 || !utf8.Valid(raw[i:end]) {
			return false // encoding/json would unescape or repair the key
		}
		key := raw[i+1 : end-1]
		i = SkipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = SkipSpace(raw, i+1)
		if end, ok = ValueEnd(raw, i); !ok {
			return false
		}
		if !fn(key, raw[i:end]) {
			return false
		}
		i = SkipSpace(raw, end)
		switch {
		case i < len(raw) && raw[i] == ',':
			i = SkipSpace(raw, i+1)
		case i == len(raw)-1 && raw[i] == '}':
			return true
		default:
			return false
		}
	}
}

// ValueEnd finds where the JSON value starting at b[i] ends (SkipValue, as a pair).
func ValueEnd(b []byte, i int) (int, bool) {
	end := SkipValue(b, i)
	return end, end > i
}

// PlainString is the value of a JSON string without escapes.
func PlainString(item []byte) (string, bool) {
	if len(item) < 2 || item[0] != '"' || item[len(item)-1] != '"' || bytes.IndexByte(item, '\\') >= 0 || !utf8.Valid(item) {
		return "", false
	}
	return string(item[1 : len(item)-1]), true
}

// PlainInt is the value of a JSON integer literal.
func PlainInt(item []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(item), 10, 64)
	return n, err == nil
}

// Member finds the object member whose key begins at data[i]: its key
// (unquoted, as written), and its value as data[start:end], plain when the
// value is a string without escapes. end is -1 when it is not a Member.
func Member(data []byte, i int) (key []byte, start, end int, plain bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, -1, false
	}
	keyEnd := skipString(data, i)
	if keyEnd < 0 {
		return nil, 0, -1, false
	}
	key = data[i+1 : keyEnd-1]
	i = SkipSpace(data, keyEnd)
	if i >= len(data) || data[i] != ':' {
		return nil, 0, -1, false
	}
	start = SkipSpace(data, i+1)
	if start < len(data) && data[start] == '"' {
		end, plain = StringEnd(data, start)
	} else {
		end = SkipValue(data, start)
	}
	return key, start, end, plain
}

func SkipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] ('"'),
// or -1. It only finds the closing quote: unlike StringEnd it does not look
// for control characters, which valid input has none of.
func skipString(data []byte, i int) int {
	for j := i + 1; j <= len(data); {
		q := bytes.IndexByte(data[j:], '"')
		if q < 0 {
			return -1
		}
		// The quote is escaped when an odd run of backslashes precedes it.
		n := 0
		for k := j + q - 1; k > i && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + q + 1
		}
		j += q + 1
	}
	return -1
}

// SkipValue returns the index after the JSON value starting at data[i], or
// -1. It checks only the nesting, not the value's validity.
func SkipValue(data []byte, i int) int {
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
