// Package docs_test checks that the commands the user documentation shows
// run as written: docs/tutorial.md's shell blocks, in order, in one shell,
// against the devnet the tutorial starts.
package docs_test

import (
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
