package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

func TestEscapeMakesOneCellOfAnyText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"kv.get", "kv.get"},
		{"naïve café", "naïve café"},
		{"a\tb\nc\r", `a\tb\nc\r`},
		{"\x1b[1A\x1b[2K", `\x1b[1A\x1b[2K`},
		{"del\x7f c1\u0085 csi\u009b", `del\x7f c1\u0085 csi\u009b`},
		{"bidi\u202eexe.txt", `bidi\u202eexe.txt`},
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},
		{`back\slash`, `back\\slash`},
		{"nbsp\u00a0zwsp\u200b", `nbsp\u00a0zwsp\u200b`},
	} {
		if got := escape(c.in); got != c.want {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := oneLine(json.RawMessage(`"ab\u001b[2Jcdé"`), 10); got != `ab\x1b[...` {
		t.Errorf("oneLine cut: %q", got)
	}
}

// hostileConfig serves a procedure whose summary holds a terminal escape
// and a newline: what a caller's `meshrpc ls` prints is the node's text.
const hostileConfig = `{
	"procedures": [
		{
			"name": "echo",
			"argv": ["echo", "{x}"],
			"params": [{"name": "x"}],
			"description": "says x\u001b[2J\nforged\trow",
		},
	],
}
`

// A peer that may call almost nothing chooses method names and keys with
// tabs, newlines and terminal escapes; the owner's audit, stats and ls
// print each record as one row, with no control character reaching the
// terminal.
func TestPeerChosenTextIsPrintedEscaped(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	dir := t.TempDir()
	config := filepath.Join(dir, "serve.hujson")
	os.WriteFile(config, []byte(hostileConfig), 0o644)
	home := filepath.Join(dir, "home")
	serveHome(t, dn.ControlURL(), home, "--config", config, "--allow", "self", "--allow", "node:cafe=kv.get")
	cafe := []string{"--hostname", "cafe", "--state-dir", filepath.Join(dir, "cafe")}

	forged := "kv.get\tx\nlaptop (user-1@example.com) kv.delete backups/all ok\x1b[1A\x1b[2K"
	if r := run(t, dn.ControlURL(), append(cafe, "call", "home", forged)...); r.code == 0 || strings.Contains(r.stderr, "\x1b") {
		t.Fatalf("call of a forged name: %+v", r)
	}
	// Keys with control characters are refused before they are used.
	if r := run(t, dn.ControlURL(), append(cafe, "kv", "get", "home", "motd\x1b[2J\nlaptop\tforged")...); r.code != 1 || !strings.Contains(r.stderr, "-32602") || strings.Contains(r.stderr, "\x1b") {
		t.Fatalf("kv get of a forged key: %+v", r)
	}

	// Wait until both records are in the log (it is flushed within 50 ms).
	poll.Until(t, 20*time.Second, func() error {
		r := run(t, dn.ControlURL(), "--state-dir", home, "audit", "--json")
		if n := strings.Count(r.stdout, `"node":"cafe"`); n < 2 {
			return fmt.Errorf("audit --json shows %d of cafe's two calls: %+v", n, r)
		}
		return nil
	})
	row := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  `)
	r := run(t, dn.ControlURL(), "--state-dir", home, "audit")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(r.stdout, `kv.get\\tx\\nlaptop`) {
		t.Fatalf("audit: %+v", r)
	}
	for _, l := range lines[1:] {
		if !row.MatchString(l) {
			t.Errorf("audit: a row that is not a record: %q", l)
		}
	}
	for _, cmd := range [][]string{{"audit"}, {"stats", "home"}, {"ls", "home"}, {"ls", "home", "--why"}} {
		r := run(t, dn.ControlURL(), append([]string{"--state-dir", home}, cmd...)...)
		if r.code != 0 || strings.ContainsFunc(r.stdout, func(c rune) bool { return c < ' ' && c != '\n' || c == 0x7f }) {
			t.Errorf("%s printed a control character: %+v", cmd, r)
		}
	}
	if r := run(t, dn.ControlURL(), "--state-dir", home, "ls", "home"); !strings.Contains(r.stdout, `says x\x1b[2J\nforged\trow`) {
		t.Errorf("ls: %+v", r)
	}
}

// hostileText holds what a terminal or a table would take for structure:
// tabs and newlines, a forged row, CSI sequences, C1 controls and a bidi
// override.
const hostileText = "v1\tforged\nlaptop (user-1@example.com) kv.delete backups/all ok\x1b[1A\x1b[2K\u009b2J\u202eexe"

// A peer on the tailnet answers meshrpc's calls with text of its choosing:
// uname, peers and whoami print it escaped, one row per peer, and an error
// message it sends reaches the terminal as one escaped line.
func TestHostilePeersAnswersArePrintedEscaped(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	reg := rpc.NewRegistry()
	rpc.RegisterFunc(reg, "sys.uname", func() api.Uname {
		return api.Uname{Sysname: hostileText, Nodename: hostileText, Release: hostileText, Version: hostileText, Machine: hostileText}
	})
	rpc.RegisterFunc(reg, "sys.info", func() api.Info { return api.Info{Node: hostileText, Version: hostileText, Methods: 3} })
	capValue, _ := json.Marshal(hostileText)
	rpc.RegisterFunc(reg, "sys.whoami", func() rpc.Caller {
		return rpc.Caller{Node: hostileText, Login: hostileText, Tags: []string{hostileText}, Caps: map[string][]json.RawMessage{hostileText: {capValue}}}
	})
	rpc.RegisterFunc(reg, "fail", func() error { return rpc.Errorf(-32000, "%s", hostileText) })
	hostile := meshtest.Join(t, dn, mesh.Config{Hostname: "hostile"})
	ln, err := hostile.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(rpc.Config{Registry: reg})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	cafe := []string{"--hostname", "cafe", "--state-dir", filepath.Join(t.TempDir(), "cafe")}
	controls := func(s string) bool {
		return strings.ContainsFunc(s, func(c rune) bool { return c < ' ' && c != '\n' || c >= 0x7f && c <= 0x9f || c == '\u202e' })
	}
	for _, c := range []struct {
		args []string
		rows int // lines of stdout
	}{
		{[]string{"uname", "hostile"}, 2},
		{[]string{"peers"}, 2},             // the header and hostile (cafe is this command)
		{[]string{"whoami", "hostile"}, 4}, // node, login, tags, grant
		{[]string{"call", "hostile", "fail"}, 0},
	} {
		r := run(t, dn.ControlURL(), append(cafe, c.args...)...)
		lines := strings.Count(r.stdout, "\n")
		if controls(r.stdout) || controls(r.stderr) || lines != c.rows || strings.Count(r.stderr, "\n") > 1 {
			t.Errorf("%s printed a control character or a forged row (%d lines, want %d):\nstdout %q\nstderr %q", c.args, lines, c.rows, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout+r.stderr, `v1\tforged\nlaptop`) {
			t.Errorf("%s did not show the peer's text escaped: %+v", c.args, r)
		}
	}
}
