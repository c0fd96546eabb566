package jsonfast

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Large results are mostly one long string, so the scans below find the few
// bytes that matter with bytes.IndexByte (vectorised) and look at sixteen
// bytes at a time for the rest (SWAR): a 1 MiB string is crossed in a
// fraction of the time of encoding/json's byte-at-a-time validating scanner,
// which alone cost a caller 3 ms per MiB.

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasLess is non-zero when a byte of x is below n (n <= 128).
func hasLess(x uint64, n byte) uint64 { return (x - lows*uint64(n)) & ^x & highs }

// StringEnd returns the index after the JSON string starting at b[i] (a
// '"') and whether it is plain: no escapes and no control characters, so
// its bytes between the quotes are its value (bar UTF-8 repair). end is -1
// when the string does not end. The quotes and backslashes are found with
// bytes.IndexByte (vectorised); an escaped quote moves the search on.
func StringEnd(b []byte, i int) (end int, plain bool) {
	plain = true
	quote := -1 // the next '"' at or after j, once found
	for j := i + 1; j <= len(b); {
		if quote < j {
			q := bytes.IndexByte(b[j:], '"')
			if q < 0 {
				return -1, false
			}
			quote = j + q
		}
		k := bytes.IndexByte(b[j:quote], '\\')
		if k < 0 {
			return quote + 1, plain && !hasControl(b[j:quote])
		}
		plain = false // an escape: encoding/json decodes it
		j += k + 2    // the backslash and the character it escapes
	}
	return -1, false
}

// hasControl reports whether b holds a byte below 0x20, which a JSON string
// may not.
func hasControl(b []byte) bool {
	j := 0
	for ; j+16 <= len(b); j += 16 {
		x, y := binary.LittleEndian.Uint64(b[j:]), binary.LittleEndian.Uint64(b[j+8:])
		if hasLess(x, 0x20)|hasLess(y, 0x20) != 0 {
			return true
		}
	}
	for ; j < len(b); j++ {
		if b[j] < 0x20 {
			return true
		}
	}
	return false
}

// Verbatim reports whether encoding/json writes s unchanged between
// quotes: printable ASCII without '"', '\\' or the HTML characters it
// escapes ('<', '>', '&').
func Verbatim(s string) bool {
	j := 0
	for ; j+16 <= len(s); j += 16 {
		x, y := load64(s, j), load64(s, j+8)
		if (x|y)&highs|hasLess(x, 0x20)|hasLess(y, 0x20) != 0 {
			return false
		}
	}
	for ; j < len(s); j++ {
		if s[j] < 0x20 || s[j] >= 0x80 {
			return false
		}
	}
	for _, c := range []byte(`"\\<>&`) {
		if strings.IndexByte(s, c) >= 0 {
			return false
		}
	}
	return true
}

// load64 is the little-endian uint64 at s[j:j+8] (one load, once compiled).
func load64(s string, j int) uint64 {
	_ = s[j+7]
	return uint64(s[j]) | uint64(s[j+1])<<8 | uint64(s[j+2])<<16 | uint64(s[j+3])<<24 |
		uint64(s[j+4])<<32 | uint64(s[j+5])<<40 | uint64(s[j+6])<<48 | uint64(s[j+7])<<56
}

// AppendString appends s quoted, as json.Marshal writes it.
func AppendString(b []byte, s string) []byte {
	if Verbatim(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// AppendStrings appends ss as json.Marshal writes a []string, with null
// for a nil slice.
func AppendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, s)
	}
	return append(b, ']')
}

// AppendFloat appends f as json.Marshal writes it; f must be finite (a
// NaN or an infinity json.Marshal refuses appends nothing).
func AppendFloat(b []byte, f float64) []byte {
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(f) {
		q, _ := json.Marshal(f)
		return append(b, q...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}
