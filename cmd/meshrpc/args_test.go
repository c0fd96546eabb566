package main

import "testing"

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		args []string
		raw  string
		want string
	}{
		{nil, "", ""},
		{[]string{"a", "10"}, "", `["a",10]`},
		{[]string{`"quoted"`, "true", "null", "[1]"}, "", `["quoted",true,null,[1]]`},
		{[]string{"key=visits", "delta=5"}, "", `{"delta":5,"key":"visits"}`},
		{[]string{"a=b=c"}, "", `{"a":"b=c"}`},
		{[]string{"=x"}, "", `["=x"]`},
		{nil, `{"key":"x"}`, `{"key":"x"}`},
	} {
		got, err := parseParams(tc.args, tc.raw)
		if err != nil || string(got) != tc.want {
			t.Errorf("parseParams(%q, %q) = %s, %v; want %s", tc.args, tc.raw, got, err, tc.want)
		}
	}
	for _, bad := range []struct {
		args []string
		raw  string
	}{
		{[]string{"a=1", "b"}, ""},
		{[]string{"x"}, `[1]`},
		{nil, `"str"`},
		{nil, `{`},
	} {
		if _, err := parseParams(bad.args, bad.raw); exitCode(err) != exitUsage {
			t.Errorf("parseParams(%q, %q): err %v, want a usage error", bad.args, bad.raw, err)
		}
	}
}
