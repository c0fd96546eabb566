package store

import (
	"strings"
	"testing"
)

func TestEventsRoundTripWithAndWithoutARequest(t *testing.T) {
	request := strings.Repeat("\xff", requestLen)
	for _, tc := range []struct {
		typ     byte
		request string
		value   string
	}{
		{logPut, "", `{"a":1}`},
		{logPut, request, `[1]`},
		{logDelete, "", ""},
		{logDelete, request, ""},
	} {
		b := encodeEvent(tc.typ, tc.request, "some/key", []byte(tc.value))
		e, ok := decodeEvent(7, b)
		if !ok || e.Key != "some/key" || string(e.Value) != tc.value || e.Rev != 7 || (e.Type == EventDelete) != (tc.typ == logDelete) {
			t.Errorf("%c with request %v: %+v %v", tc.typ, tc.request != "", e, ok)
		}
		if r, ok := requestOf(b); r != tc.request || ok != (tc.request != "") {
			t.Errorf("%c: requestOf = %q %v", tc.typ, r, ok)
		}
	}
	for _, b := range []string{"", "P", "P" + request, "D\x01"} {
		if _, ok := decodeEvent(1, []byte(b)); ok {
			t.Errorf("decodeEvent(%q) ok", b)
		}
	}
}
