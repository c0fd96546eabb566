package main

import (
	"strings"
	"testing"
)

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

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, "", args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "meshrpc ") {
			t.Errorf("meshrpc %v: %+v", args, r)
		}
	}
}

// A wrong number of arguments names the whole command and its form.
func TestWrongArgumentCountNamesTheCommand(t *testing.T) {
	r := run(t, "", "kv", "inc", "home")
	if r.code != 2 || !strings.Contains(r.stderr, "meshrpc kv inc PEER KEY [DELTA] takes 2 to 3 argument(s), got 1; see meshrpc kv inc --help") {
		t.Fatalf("kv inc home: %+v", r)
	}
}
