package configfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `{
	// Who may call the built-in procedures.
	"allow": ["self", "tag:laptop=kv.*"],
	"data": "kv.db",
	"port": 4344,
	"procedures": [
		{"name": "uptime", "argv": ["uptime"], "read_only": true},
		{
			"name": "home.greet",
			"description": "Says hello.",
			"argv": ["echo", "hello", "{who}", "{times}"],
			"params": [
				{"name": "who", "pattern": "[a-z]+"},
				{"name": "times", "type": "integer", "optional": true, "default": 1},
			],
			"dir": "/",
			"env": ["PATH", "GREETING=hi"],
			"timeout": "2m",
			"max_output": 4096,
			"max_concurrent": 1,
			"allow": ["user:mom@example.com"],
		},
	],
}
`

func TestParseGood(t *testing.T) {
	f, err := Parse("/etc/meshrpc/serve.hujson", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if f.Data != "/etc/meshrpc/kv.db" || f.Port != 4344 || len(f.Allow) != 2 || len(f.Procedures) != 2 {
		t.Fatalf("%+v", f)
	}
	g := f.Procedures[1]
	if g.Name != "home.greet" || g.Timeout != 2*time.Minute || g.MaxOutput != 4096 || g.MaxConcurrent != 1 ||
		g.Params[1].Default != "1" || g.Params[1].Type != "integer" || g.Allow[0] != "user:mom@example.com" || !f.Procedures[0].ReadOnly {
		t.Fatalf("%+v", g)
	}
}

func TestRelativeProgramIsBesideTheFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "backup.sh"), []byte("#!/bin/sh\n"), 0o755)
	path := filepath.Join(dir, "serve.hujson")
	os.WriteFile(path, []byte(`{"procedures": [{"name": "backup", "argv": ["./backup.sh"]}]}`), 0o644)
	f, err := Load(path)
	if err != nil || f.Procedures[0].Argv[0] != filepath.Join(dir, "backup.sh") {
		t.Fatalf("%+v %v", f, err)
	}
}

// Each bad file names its line and the problem.
func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		edit, bad, want string
	}{
		{`"port": 4344,`, `"port": 4344 "oops",`, "serve.hujson:5:"},
		{`"read_only": true`, `"readonly": true`, `serve.hujson:7: unknown field "readonly"`},
		{`"port": 4344`, `"port": "4344"`, `serve.hujson:5: port must be an integer, not a JSON string`},
		{`"self", "tag:laptop=kv.*"`, `"self", "bogus"`, `serve.hujson:3: rule "bogus"`},
		{`"pattern": "[a-z]+"`, `"pattern": "[a-z"`, `serve.hujson:13: procedure "home.greet": params[0].pattern:`},
		{`"hello", "{who}"`, `"hello", "--who={who}"`, `serve.hujson:11: procedure "home.greet": argv[2]: "--who={who}" splices a param`},
		{`["uptime"]`, `["no-such-program"]`, `serve.hujson:7: procedure "uptime": argv[0]: program "no-such-program" not found`},
		{`"2m"`, `"soon"`, `serve.hujson:18: procedure "home.greet": timeout: "soon" is not a duration`},
		{`"name": "uptime"`, `"name": "home.greet"`, `serve.hujson:9: procedure "home.greet" is declared twice (first at line 7)`},
		{`"user:mom@example.com"`, `"user:"`, `serve.hujson:21: procedure "home.greet": allow[0]:`},
		{`"port": 4344`, `"port": 70000`, `serve.hujson:5: port 70000 is out of range`},
		{`"argv": ["echo", "hello", "{who}", "{times}"],`, ``, `serve.hujson:8: procedure "home.greet": argv: no program`},
		{`"default": 1`, `"default": "one"`, `serve.hujson:14: procedure "home.greet": params[1].default: "one" is not an integer`},
	} {
		if !strings.Contains(good, tc.edit) {
			t.Fatalf("%q is not in the file", tc.edit)
		}
		_, err := Parse("serve.hujson", []byte(strings.Replace(good, tc.edit, tc.bad, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: got %v\nwant %s", tc.edit, tc.bad, err, tc.want)
		}
	}
}
