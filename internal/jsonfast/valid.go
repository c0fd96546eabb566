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
	c := checker{b: b, compact: true}
	valid = c.check()
	return valid, valid && c.compact
}

// ValidDepth reports whether b is one valid JSON value, as json.Valid
// does, and, when it is, how deeply its objects and arrays nest (0 for a
// scalar): a request's check and its nesting limit in one pass.
func ValidDepth(b []byte) (depth int, valid bool) {
	c := checker{b: b}
	valid = c.check()
	return c.deepest, valid
}

// checker is Check's state: the open containers, the deepest they went,
// and whether a space was skipped.
type checker struct {
	b       []byte
	stack   []byte // '{' or '['
	deepest int
	compact bool
}

func (c *checker) check() bool {
	i, ok := c.space(0), true
	for ok {
		if i, ok = c.value(i); ok {
			var done bool
			if i, done, ok = c.next(i); done {
				return ok
			}
		}
	}
	return false
}

func (c *checker) space(i int) int {
	j := SkipSpace(c.b, i)
	if j != i {
		c.compact = false
	}
	return j
}

// value checks the value starting at b[i] and returns where it ends or,
// for a container that is not empty, where its first value starts (as a
// value that ends there, with the container open).
func (c *checker) value(i int) (int, bool) {
	b := c.b
	if i >= len(b) {
		return 0, false
	}
	switch ch := b[i]; ch {
	case '"':
		return stringValid(b, i)
	case '{', '[':
		if len(c.stack) == maxNesting {
			return 0, false
		}
		c.stack = append(c.stack, ch)
		c.deepest = max(c.deepest, len(c.stack))
		i = c.space(i + 1)
		if i < len(b) && b[i] == ch+2 { // '}' is '{'+2, ']' is '['+2
			c.stack = c.stack[:len(c.stack)-1]
			return i + 1, true
		}
		if ch == '{' {
			if i, ok := c.key(i); ok {
				return c.value(i)
			}
			return 0, false
		}
		return c.value(i)
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	}
	return numberEnd(b, i)
}

// next follows a value that ended before b[i]: it closes containers, and
// returns where the next element or member's value starts, or done when
// the whole input is read (ok: it was one value).
func (c *checker) next(i int) (next int, done, ok bool) {
	b := c.b
	for {
		i = c.space(i)
		if len(c.stack) == 0 {
			return 0, true, i == len(b)
		}
		if i >= len(b) {
			return 0, true, false
		}
		top := c.stack[len(c.stack)-1]
		if b[i] == top+2 {
			c.stack, i = c.stack[:len(c.stack)-1], i+1
			continue
		}
		if b[i] != ',' {
			return 0, true, false
		}
		i = c.space(i + 1)
		if top == '{' {
			if i, ok = c.key(i); !ok {
				return 0, true, false
			}
		}
		return i, false, true
	}
}

// key checks an object member's key and colon starting at b[i] and
// returns where its value starts.
func (c *checker) key(i int) (int, bool) {
	b := c.b
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, ok := stringValid(b, i)
	if !ok {
		return 0, false
	}
	i = c.space(i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return c.space(i + 1), true
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
