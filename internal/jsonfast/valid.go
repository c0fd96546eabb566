package jsonfast

import "bytes"

// maxNesting is encoding/json's own limit on nested objects and arrays:
// json.Valid refuses anything deeper.
const maxNesting = 10000

// Valid reports whether b is one valid JSON value, as json.Valid does.
func Valid(b []byte) bool {
	valid, _ := Check(b)
	return valid
}

// Check reports whether b is one valid JSON value, as json.Valid does, and,
// when it is, whether it is compact: without a space outside its strings,
// so that json.Compact would leave it as it is and it can be stored as its
// bytes. Long strings are crossed with bytes.IndexByte.
func Check(b []byte) (valid, compact bool) {
	var stack []byte // the open containers, '{' or '['
	compact = true
	space := func(i int) int {
		j := SkipSpace(b, i)
		if j != i {
			compact = false
		}
		return j
	}
	i := space(0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false, false
		}
		var ok bool
		switch c := b[i]; c {
		case '"':
			i, ok = stringValid(b, i)
		case '{', '[':
			if len(stack) == maxNesting {
				return false, false
			}
			stack = append(stack, c)
			i = space(i + 1)
			if i < len(b) && b[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				stack, i, ok = stack[:len(stack)-1], i+1, true
			} else if c == '{' {
				if i, ok = keyValid(b, i, space); ok {
					continue // the member's value
				}
			} else {
				continue // the first element
			}
		case 't':
			i, ok = literal(b, i, "true")
		case 'f':
			i, ok = literal(b, i, "false")
		case 'n':
			i, ok = literal(b, i, "null")
		default:
			i, ok = numberEnd(b, i)
		}
		if !ok {
			return false, false
		}
		// A value ended before b[i]: close containers, or go on to the
		// next element or member.
		for {
			i = space(i)
			if len(stack) == 0 {
				return i == len(b), compact && i == len(b)
			}
			if i >= len(b) {
				return false, false
			}
			top := stack[len(stack)-1]
			if b[i] == top+2 {
				stack, i = stack[:len(stack)-1], i+1
				continue
			}
			if b[i] != ',' {
				return false, false
			}
			i = space(i + 1)
			if top == '{' {
				if i, ok = keyValid(b, i, space); !ok {
					return false, false
				}
			}
			break
		}
	}
}

// keyValid checks an object member's key and colon starting at b[i] and
// returns where its value starts.
func keyValid(b []byte, i int, space func(int) int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, ok := stringValid(b, i)
	if !ok {
		return 0, false
	}
	i = space(i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return space(i + 1), true
}

// stringValid checks the JSON string starting at b[i] (a '"'): no control
// characters, only the escapes JSON has. Like encoding/json it does not
// check UTF-8 (json.Unmarshal repairs it).
func stringValid(b []byte, i int) (end int, ok bool) {
	quote := -1 // the next '"' at or after j, once found
	for j := i + 1; ; {
		if quote < j {
			q := bytes.IndexByte(b[j:], '"')
			if q < 0 {
				return 0, false
			}
			quote = j + q
		}
		k := bytes.IndexByte(b[j:quote], '\\')
		if k < 0 {
			return quote + 1, !hasControl(b[j:quote])
		}
		if hasControl(b[j : j+k]) {
			return 0, false
		}
		e := j + k + 1 // the escaped character
		if e >= len(b) {
			return 0, false
		}
		switch b[e] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j = e + 1
		case 'u':
			if e+5 > len(b) || !isHex(b[e+1]) || !isHex(b[e+2]) || !isHex(b[e+3]) || !isHex(b[e+4]) {
				return 0, false
			}
			j = e + 5
		default:
			return 0, false
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// numberEnd checks the JSON number starting at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
