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
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
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
