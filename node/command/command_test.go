package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/rpc"
)

// The test binary doubles as the program under test: with MESHRPC_ARGV_HELPER
// set it prints its arguments as JSON and exits, or does what they say.
func TestMain(m *testing.M) {
	switch os.Getenv("MESHRPC_ARGV_HELPER") {
	case "":
		os.Exit(m.Run())
	case "argv":
		json.NewEncoder(os.Stdout).Encode(os.Args[1:])
	case "env":
		json.NewEncoder(os.Stdout).Encode(os.Environ())
	}
	os.Exit(0)
}

func helper(mode string, argv ...string) Spec {
	exe, _ := os.Executable()
	return Spec{Name: "t", Argv: append([]string{exe}, argv...), Env: []string{"MESHRPC_ARGV_HELPER=" + mode}}
}

func call(t *testing.T, s Spec, params string) (*Result, error) {
	t.Helper()
	p, err := Procedure(s)
	if err != nil {
		t.Fatalf("Procedure: %v", err)
	}
	res, err := p.Handler.ServeRPC(context.Background(), json.RawMessage(params))
	if err != nil {
		return nil, err
	}
	return res.(*Result), nil
}

func TestParamsReachTheProgramAsLiteralArguments(t *testing.T) {
	s := helper("argv", "--", "{a}", "fixed", "{b}")
	s.Params = []Param{{Name: "a"}, {Name: "b", Optional: true}}
	for _, v := range []string{
		"two words", `"double" 'single'`, "a; rm -rf /", "$(id)", "`id`", "-rf", "--help", "*", "~", "$HOME", "a\nb", "",
		"|& <>", "{b}", "ünïcødé",
	} {
		params, _ := json.Marshal(map[string]string{"a": v})
		res, err := call(t, s, string(params))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		var got []string
		if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil || res.ExitCode != 0 {
			t.Fatalf("%q: %+v %v", v, res, err)
		}
		if want := []string{"--", v, "fixed"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%q reached the program as %q, want %q", v, got, want)
		}
	}
	// Positional, with the optional one given.
	res, err := call(t, s, `["-x", "y z"]`)
	if err != nil || res.Stdout != `["--","-x","fixed","y z"]`+"\n" {
		t.Fatalf("positional: %+v %v", res, err)
	}
}

func TestParamTypesDefaultsAndPatterns(t *testing.T) {
	s := helper("argv", "{n}", "{f}", "{on}", "{name}")
	s.Params = []Param{
		{Name: "n", Type: "integer"},
		{Name: "f", Type: "number", Optional: true, Default: "0.5"},
		{Name: "on", Type: "boolean", Optional: true},
		{Name: "name", Optional: true, Pattern: "[a-z]+|[a-z]+[0-9]"},
	}
	res, err := call(t, s, `{"n": 42, "name": "web1"}`)
	if err != nil || res.Stdout != `["42","0.5","web1"]`+"\n" {
		t.Fatalf("defaults: %+v %v", res, err)
	}
	for params, want := range map[string]string{
		`{"n": "42"}`:             `param "n" must be an integer`,
		`{"n": 1.5}`:              `param "n" must be an integer, not 1.5`,
		`{"n": 1, "on": "yes"}`:   `param "on" must be a boolean`,
		`{"n": 1, "name": "Web"}`: `"Web" does not match the pattern`,
		`{}`:                      `missing required param "n"`,
		`{"n": null}`:             `param "n" is required and may not be null`,
		`{"n": 1, "x": 2}`:        `unknown param "x"`,
		`[1, 2, true, "a", "b"]`:  `5 params given`,
		`"n"`:                     `params must be an object`,
	} {
		_, err := call(t, s, params)
		if rpc.CodeOf(err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want invalid params with %q", params, err, want)
		}
	}
	s2 := helper("argv", "{s}")
	s2.Params = []Param{{Name: "s"}}
	if _, err := call(t, s2, `{"s": "a\u0000b"}`); rpc.CodeOf(err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("NUL byte: %v", err)
	}
}

func TestExitCodesAndOutput(t *testing.T) {
	res, err := call(t, Spec{Name: "t", Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}, "")
	if err != nil || res.ExitCode != 3 || res.Stdout != "out\n" || res.Stderr != "err\n" || res.TimedOut || res.DurationMs <= 0 {
		t.Fatalf("non-zero exit: %+v %v", res, err)
	}
	// Huge output: kept to the cap, flagged, and the program is not blocked.
	res, err = call(t, Spec{Name: "t", Argv: []string{"sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' x; echo done >&2"}, MaxOutput: 1000}, "")
	if err != nil || len(res.Stdout) != 1000 || !res.StdoutTruncated || res.StderrTruncated || res.Stderr != "done\n" || res.ExitCode != 0 {
		t.Fatalf("huge output: %d bytes, %+v %v", len(res.Stdout), res.Stderr, err)
	}
	// Not UTF-8: base64, nothing lost.
	res, err = call(t, Spec{Name: "t", Argv: []string{"printf", `\377\376`}}, "")
	if err != nil || res.StdoutEncoding != "base64" || res.Stdout != "//4=" {
		t.Fatalf("binary output: %+v %v", res, err)
	}
	// A rune cut by the cap is dropped, not turned into base64.
	res, err = call(t, Spec{Name: "t", Argv: []string{"printf", "aé"}, MaxOutput: 2}, "")
	if err != nil || res.Stdout != "a" || res.StdoutEncoding != "" || !res.StdoutTruncated {
		t.Fatalf("cut rune: %+v %v", res, err)
	}
}

func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The script starts a grandchild that would outlive a kill of the
	// script alone, records its pid, and waits.
	s := Spec{Name: "t", Argv: []string{"sh", "-c", `sleep 60 & echo $! > "$0"; echo started; wait`, pidFile}, Timeout: 300 * time.Millisecond}
	start := time.Now()
	res, err := call(t, s, "")
	if err != nil || !res.TimedOut || res.ExitCode != -1 || res.Signal != "killed" || res.Stdout != "started\n" {
		t.Fatalf("timeout: %+v %v", res, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the call took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	json.Unmarshal([]byte(strings.TrimSpace(string(b))), &pid)
	// Kill(pid, 0) fails once the grandchild is gone (it is reaped by
	// init, so no zombie lingers for long).
	poll.Until(t, 5*time.Second, func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("grandchild %d outlived the timeout", pid)
		}
		return nil
	})
}

func TestCallerCancelEndsTheProgram(t *testing.T) {
	p, err := Procedure(Spec{Name: "t", Argv: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.Handler.ServeRPC(ctx, nil); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestConcurrencyIsCapped(t *testing.T) {
	p, err := Procedure(Spec{Name: "t", Argv: []string{"sleep", "0.5"}, MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 5)
	for range cap(errs) {
		go func() { _, err := p.Handler.ServeRPC(context.Background(), nil); errs <- err }()
	}
	ran, refused := 0, 0
	for range cap(errs) {
		switch err := <-errs; {
		case err == nil:
			ran++
		case rpc.CodeOf(err) == rpc.CodeTooManyRequests && strings.Contains(err.Error(), "max_concurrent"):
			refused++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	// Five calls at once: at most two run, and the program takes long
	// enough that they overlap.
	if ran < 1 || ran > 2 || refused != 5-ran {
		t.Fatalf("%d ran, %d refused", ran, refused)
	}
}

func TestProgramMissingAtCallTime(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	os.WriteFile(prog, []byte("#!/bin/sh\necho hi\n"), 0o755)
	p, err := Procedure(Spec{Name: "t", Argv: []string{prog}})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(prog)
	_, err = p.Handler.ServeRPC(context.Background(), nil)
	if rpc.CodeOf(err) != rpc.CodeUnavailable || !strings.Contains(err.Error(), prog) {
		t.Fatalf("got %v", err)
	}
}

func TestEnvironmentIsAllowlisted(t *testing.T) {
	t.Setenv("MESHRPC_TEST_SECRET", "s3cret")
	t.Setenv("MESHRPC_TEST_SHARED", "ok")
	s := helper("env")
	s.Env = append(s.Env, "MESHRPC_TEST_SHARED", "FIXED=1", "NOT_SET_ANYWHERE")
	ctx := rpc.WithCaller(context.Background(), rpc.Caller{Node: "laptop", Login: "alice@example.com", Tags: []string{"tag:a", "tag:b"}})
	p, _ := Procedure(s)
	res, err := p.Handler.ServeRPC(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	json.Unmarshal([]byte(res.(*Result).Stdout), &env)
	if last := env[len(env)-1]; !strings.HasPrefix(last, "MESHRPC_RUN=") { // random: marks the run's processes
		t.Fatalf("no MESHRPC_RUN last in %q", env)
	}
	env = env[:len(env)-1]
	want := []string{"MESHRPC_ARGV_HELPER=env", "MESHRPC_TEST_SHARED=ok", "FIXED=1", "MESHRPC_METHOD=t",
		"MESHRPC_CALLER_NODE=laptop", "MESHRPC_CALLER_LOGIN=alice@example.com", "MESHRPC_CALLER_TAGS=tag:a,tag:b"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env %q\nwant %q", env, want)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain")
	os.WriteFile(notExec, nil, 0o644)
	for _, tc := range []struct {
		spec  Spec
		field string
		msg   string
	}{
		{Spec{Name: "", Argv: []string{"true"}}, "name", "not a procedure name"},
		{Spec{Name: "a b", Argv: []string{"true"}}, "name", "not a procedure name"},
		{Spec{Name: "rpc.x", Argv: []string{"true"}}, "name", "reserved"},
		{Spec{Name: "x"}, "argv", "no program"},
		{Spec{Name: "x", Argv: []string{"{p}"}, Params: []Param{{Name: "p"}}}, "argv[0]", "must be fixed"},
		{Spec{Name: "x", Argv: []string{"no-such-program-anywhere"}}, "argv[0]", "not found on PATH"},
		{Spec{Name: "x", Argv: []string{"/no/such/prog"}}, "argv[0]", "no such file"},
		{Spec{Name: "x", Argv: []string{notExec}}, "argv[0]", "not executable"},
		{Spec{Name: "x", Argv: []string{"echo", "--dir={p}"}, Params: []Param{{Name: "p"}}}, "argv[1]", "whole argument"},
		{Spec{Name: "x", Argv: []string{"echo", "{q}"}}, "argv[1]", "names no declared param"},
		{Spec{Name: "x", Argv: []string{"echo"}, Params: []Param{{Name: "p"}}}, "params", "argv does not use it"},
		{Spec{Name: "x", Argv: []string{"echo", "{p}", "{p}"}, Params: []Param{{Name: "p"}, {Name: "p"}}}, "params[1].name", "declared twice"},
		{Spec{Name: "x", Argv: []string{"echo", "{p}"}, Params: []Param{{Name: "p", Type: "list"}}}, "params[0].type", "unknown type"},
		{Spec{Name: "x", Argv: []string{"echo", "{p}"}, Params: []Param{{Name: "p", Pattern: "("}}}, "params[0].pattern", "missing closing )"},
		{Spec{Name: "x", Argv: []string{"echo", "{p}"}, Params: []Param{{Name: "p", Default: "a"}}}, "params[0].default", "only for an optional"},
		{Spec{Name: "x", Argv: []string{"echo", "{p}"}, Params: []Param{{Name: "p", Type: "integer", Optional: true, Default: "a"}}}, "params[0].default", "not an integer"},
		{Spec{Name: "x", Argv: []string{"echo"}, Env: []string{"A B"}}, "env[0]", "not NAME"},
		{Spec{Name: "x", Argv: []string{"echo"}, Timeout: -1}, "timeout", "negative"},
		{Spec{Name: "x", Argv: []string{"echo"}, Allow: []string{"bob"}}, "allow[0]", "unknown principal"},
		{Spec{Name: "x", Argv: []string{"echo"}, Allow: []string{"tag:a=kv.*"}}, "allow[0]", "only the principal"},
		{Spec{Name: "x", Argv: []string{"echo"}, Dir: notExec}, "dir", "not a directory"},
	} {
		err := tc.spec.Check()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: got %v, want %s: ...%s...", tc.spec, err, tc.field, tc.msg)
		}
	}
	ok := Spec{Name: "home.df", Argv: []string{"df", "-h", "{path}", "{}"}, Params: []Param{{Name: "path", Optional: true}},
		Allow: []string{"self", "*", "user:a@b.c", "tag:x", "node:y"}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestSplit(t *testing.T) {
	for line, want := range map[string][]string{
		`df -h /`:                    {"df", "-h", "/"},
		`  echo   "a b"  'c d' `:     {"echo", "a b", "c d"},
		`echo a\ b "x\"y" 'it'\''s'`: {"echo", "a b", `x"y`, "it's"},
		`echo "\n" '\n' \n`:          {"echo", `\n`, `\n`, "n"},
		`echo '$(id)' ';' '*' "~"`:   {"echo", "$(id)", ";", "*", "~"},
		`echo a~b c#d ""`:            {"echo", "a~b", "c#d", ""},
		`greet {name}`:               {"greet", "{name}"},
	} {
		got, err := Split(line)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Split(%s) = %q, %v; want %q", line, got, err, want)
		}
	}
	for line, want := range map[string]string{
		`ls | grep x`:   "means something to a shell",
		`echo a; rm b`:  "means something to a shell",
		`echo $HOME`:    "means something to a shell",
		`echo "$HOME"`:  "would be expanded",
		"echo `id`":     "means something to a shell",
		`ls *.txt`:      "means something to a shell",
		`cd ~`:          "means something to a shell",
		`echo 'open`:    "unterminated",
		`echo a\`:       "lone backslash",
		`echo # remark`: "means something to a shell",
	} {
		if _, err := Split(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Split(%s): got %v, want an error with %q", line, err, want)
		}
	}
}

func TestParseExpose(t *testing.T) {
	s, err := ParseExpose(`greet=echo hello {name} "{name}"`)
	if err != nil || s.Name != "greet" || len(s.Params) != 1 || s.Params[0].Name != "name" || s.Params[0].Optional {
		t.Fatalf("%+v %v", s, err)
	}
	for in, want := range map[string]string{
		"uptime":          "want NAME=COMMAND",
		"x=":              "want NAME=COMMAND",
		"x=ls | wc":       "means something to a shell",
		"bad name=uptime": "not a procedure name",
		"x=no-such-prog":  "not found on PATH",
	} {
		if _, err := ParseExpose(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseExpose(%q): %v, want %q", in, err, want)
		}
	}
}

// A program's descendant that leaves its process group (setsid) ends with
// the call too.
func TestDescendantsThatCalledSetsidAreKilled(t *testing.T) {
	s := Spec{Name: "t", Argv: []string{"sh", "-c", `pid=$(setsid -f sh -c 'echo $$; exec sleep 601 >/dev/null 2>&1 </dev/null'); echo $pid`}}
	res, err := call(t, s, "")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	pid := strings.TrimSpace(res.Stdout)
	// Killed, the sleep is gone or a zombie until its new parent reaps it.
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err == nil {
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] != "Z" && f[2] != "X" {
			t.Fatalf("sleep 601 (pid %s) still runs: %s", pid, stat)
		}
	}
}

// An argument too long for any program is bad params (-32602), not a
// program that cannot start (-32005).
func TestOverlongArgumentIsInvalidParams(t *testing.T) {
	s := helper("argv", "{a}")
	s.Params = []Param{{Name: "a"}}
	params, _ := json.Marshal(map[string]string{"a": strings.Repeat("x", 200<<10)})
	if _, err := call(t, s, string(params)); rpc.CodeOf(err) != rpc.CodeInvalidParams {
		t.Fatalf("200 KB argument: %v", err)
	}
}
