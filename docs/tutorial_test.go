// Package docs_test checks that the commands the user documentation shows
// run as written: docs/tutorial.md's shell blocks, in order, in one shell,
// against the devnet the tutorial starts.
package docs_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// blockTimeout bounds each block: the slowest builds a tsnet program.
const blockTimeout = 5 * time.Minute

// TestTutorial runs every sh block of docs/tutorial.md, in order, in one
// bash (set -e -x) in a copy of the repository with a temporary HOME, and
// checks that each text block that follows one appears in its output. A
// block after "<!-- file: PATH -->" is written to PATH; one after
// "<!-- not run: WHY -->" is skipped.
func TestTutorial(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tutorial's programs: minutes")
	}
	for _, tool := range []string{"bash", "python3", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the tutorial needs %s: %v", tool, err)
			}
			t.Skipf("the tutorial needs %s: %v", tool, err)
		}
	}
	// The tutorial's fixed ports: the devnet's and the phone's proxy.
	for _, addr := range []string{"127.0.0.1:9911", "127.0.0.1:1055"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the tutorial needs %s free: %v", addr, err)
			}
			t.Skipf("the tutorial needs %s free: %v", addr, err)
		}
		ln.Close()
	}
	blocks := parseBlocks(t, "tutorial.md")
	// The README's block marked "<!-- checked: ... -->" runs on the
	// tutorial's nodes before its last block stops them; its curl goes
	// through the phone's proxy (ALL_PROXY), and reads the counter it set.
	last := len(blocks) - 1
	for last > 0 && (blocks[last].lang != "sh" || blocks[last].skip) {
		last--
	}
	for _, b := range parseBlocks(t, "../README.md") {
		if b.checked && b.lang == "sh" {
			b.want = `"result":1}`
			blocks = append(blocks[:last:last], b, blocks[last])
			last++
		}
	}
	sh := startShell(t, copyRepo(t))
	for _, b := range blocks {
		switch {
		case b.file != "":
			sh.writeFile(t, b)
		case b.lang == "sh" && !b.skip && (b.page == "tutorial.md" || b.checked):
			out := sh.run(t, b)
			printed := withoutTrace(out)
			for _, line := range strings.Split(strings.TrimSpace(b.want), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.Contains(printed, line) {
					t.Fatalf("%s:%d: the output lacks %q\ncommands:\n%s\noutput:\n%s", b.page, b.line, line, b.text, out)
				}
			}
		}
	}
}

// withoutTrace is out without the shell's trace of the commands (lines
// that begin with +), so that a command never matches its expected output.
func withoutTrace(out string) string {
	var kept []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "+") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// A block is one fenced code block of a page.
type block struct {
	page    string
	line    int    // of its opening fence
	lang    string // the fence's first word
	text    string
	file    string // from <!-- file: PATH --> before it
	skip    bool   // <!-- not run: ... --> before it
	checked bool   // <!-- checked: ... --> before it (a README block to run)
	want    string // the text block right after it, if any
}

func parseBlocks(t *testing.T, page string) []block {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []block
	var cur *block
	var marker string
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			if cur.lang == "text" && len(blocks) > 0 && blocks[len(blocks)-1].lang == "sh" {
				blocks[len(blocks)-1].want = cur.text
			} else {
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case strings.HasPrefix(line, "```"):
			lang, _, _ := strings.Cut(strings.TrimPrefix(line, "```"), " ")
			cur = &block{page: filepath.Base(page), line: i + 1, lang: lang}
			if path, ok := strings.CutPrefix(marker, "<!-- file: "); ok {
				cur.file = strings.TrimSuffix(path, " -->")
			}
			cur.skip = strings.HasPrefix(marker, "<!-- not run:")
			cur.checked = strings.HasPrefix(marker, "<!-- checked:")
		}
		if strings.TrimSpace(line) != "" {
			marker = strings.TrimSpace(line)
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: a code block that does not end", page, cur.line)
	}
	return blocks
}

// copyRepo copies the repository (without .git) to a temporary directory,
// so that what the tutorial writes into "the clone" stays out of this one.
func copyRepo(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "meshrpc")
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if d.IsDir() {
			if d.Name() == ".git" || rel == "mine" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the repository: %v", err)
	}
	return dst
}

// A shell is one bash that runs the blocks in turn, as a person at a
// terminal would, so that exports and background jobs carry over.
type shell struct {
	dir, home string
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	done      *bufio.Scanner // one line per block that ran to its end
	exited    chan struct{}  // closed when bash has ended, with exitErr
	exitErr   error
	n         int
}

func startShell(t *testing.T, dir string) *shell {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	ts := filepath.Join(home, "ts")
	if err := os.MkdirAll(ts, 0o700); err != nil {
		t.Fatal(err)
	}
	// The tutorial's "not run" block builds these; CI has them already.
	for _, tool := range []realtailnet.Tool{realtailnet.TailscaledTool, realtailnet.TailscaleTool} {
		if err := os.Symlink(realtailnet.Binary(t, tool), filepath.Join(ts, tool.Name)); err != nil {
			t.Fatal(err)
		}
	}
	doneR, doneW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sh := &shell{dir: dir, home: home, done: bufio.NewScanner(doneR), exited: make(chan struct{})}
	sh.cmd = exec.Command("bash", "--norc", "--noprofile")
	sh.cmd.Dir = dir
	sh.cmd.Env = shellEnv(t, home)
	sh.cmd.ExtraFiles = []*os.File{doneW} // fd 3
	sh.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if sh.stdin, err = sh.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sh.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	doneW.Close()
	go func() { sh.exitErr = sh.cmd.Wait(); close(sh.exited) }()
	t.Cleanup(func() {
		// The shell and everything it started in the background.
		syscall.Kill(-sh.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-sh.exited:
		case <-time.After(10 * time.Second):
		}
		syscall.Kill(-sh.cmd.Process.Pid, syscall.SIGKILL)
		doneR.Close()
	})
	fmt.Fprintln(sh.stdin, "set -e -x")
	return sh
}

// shellEnv is this process's environment for a newcomer: HOME elsewhere, no
// meshrpc settings, but Go's caches where they are, so that builds are warm.
func shellEnv(t *testing.T, home string) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	goenv := strings.Fields(string(out))
	env := []string{"HOME=" + home, "GOCACHE=" + goenv[0], "GOMODCACHE=" + goenv[1], "GOPATH=" + goenv[2]}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "HOME", name == "GOCACHE", name == "GOMODCACHE", name == "GOPATH",
			name == "XDG_CONFIG_HOME", name == "TS_AUTHKEY",
			strings.HasPrefix(name, "MESHRPC_"), strings.HasPrefix(name, "TS_"):
		default:
			env = append(env, kv)
		}
	}
	return env
}

func (sh *shell) writeFile(t *testing.T, b block) {
	t.Helper()
	path := filepath.Join(sh.dir, b.file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs b's commands in the shell and returns their output (with the
// shell's trace), failing the test with both when a command fails or the
// block takes longer than blockTimeout.
func (sh *shell) run(t *testing.T, b block) string {
	t.Helper()
	sh.n++
	script := filepath.Join(sh.home, fmt.Sprintf(".block%d.sh", sh.n))
	outPath := filepath.Join(sh.home, fmt.Sprintf(".block%d.out", sh.n))
	if err := os.WriteFile(script, []byte(b.text), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(sh.stdin, "exec >%q 2>&1\nsource %q\necho %d >&3\n", outPath, script, sh.n)
	ended := make(chan bool, 1)
	go func() { ended <- sh.done.Scan() }()
	output := func() string {
		b, _ := os.ReadFile(outPath)
		return string(b)
	}
	start := time.Now()
	failed := func() {
		<-sh.exited
		t.Fatalf("%s:%d: a command failed (%v)\ncommands:\n%s\noutput:\n%s", b.page, b.line, sh.exitErr, b.text, output())
	}
	select {
	case ok := <-ended:
		if !ok {
			failed()
		}
	case <-sh.exited:
		failed()
	case <-time.After(blockTimeout):
		t.Fatalf("%s:%d: not done after %v\ncommands:\n%s\noutput so far:\n%s", b.page, b.line, blockTimeout, b.text, output())
	}
	t.Logf("%s:%d: %v", b.page, b.line, time.Since(start).Round(time.Millisecond))
	return string(bytes.TrimSpace([]byte(output())))
}
