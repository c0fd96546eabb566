package realtailnet

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Tool is a program the tests run, built from the tools module in .ci/tools.
type Tool struct {
	Name    string // file name: "headscale"
	Env     string // environment variable holding its path
	Package string // import path to build it from
}

// The tools, at the versions .ci/tools/go.mod pins.
var (
	HeadscaleTool  = Tool{"headscale", "MESHRPC_HEADSCALE", "github.com/juanfont/headscale/cmd/headscale"}
	TailscaledTool = Tool{"tailscaled", "MESHRPC_TAILSCALED", "tailscale.com/cmd/tailscaled"}
	TailscaleTool  = Tool{"tailscale", "MESHRPC_TAILSCALE", "tailscale.com/cmd/tailscale"}
)

var (
	buildMu sync.Mutex
	built   = map[string]buildResult{}
)

type buildResult struct {
	path string
	err  error
}

// Binary returns the path of tool. It takes $Env when set (a missing file
// there fails the test: CI said it is there). Otherwise it builds the tool
// once per user cache from .ci/tools, which needs the Go module proxy or a
// warm module cache and takes minutes the first time; when that fails the
// test is skipped with the command that gets the binary. Under CI (CI set
// in the environment) nothing is skipped: a missing tool fails the test.
func Binary(t testing.TB, tool Tool) string {
	t.Helper()
	if p := os.Getenv(tool.Env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", tool.Env, p, err)
		}
		return p
	}
	buildMu.Lock()
	res, ok := built[tool.Name]
	if !ok {
		res.path, res.err = build(tool)
		built[tool.Name] = res
	}
	buildMu.Unlock()
	if res.err != nil {
		msg := fmt.Sprintf("%s is not available: set %s to its path, or build it with\n\tcd .ci/tools && go build -o /some/dir/%s %s\n(building it here failed: %v)",
			tool.Name, tool.Env, tool.Name, tool.Package, res.err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return res.path
}

// build compiles tool into the user's cache directory, where later test runs
// find it again.
func build(tool Tool) (string, error) {
	dir, err := toolsDir()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the built tool: %w", err)
	}
	// The go.sum of the tools module names the versions, so a change of
	// version builds afresh.
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("read the tools module: %w", err)
	}
	h := fnv.New32a()
	h.Write(sum)
	out := filepath.Join(cache, "meshrpc-realtailnet", fmt.Sprintf("%08x", h.Sum32()), tool.Name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	cmd := exec.Command("go", "build", "-o", out, tool.Package)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %w: %s", tool.Package, dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// toolsDir is .ci/tools of the checkout this file was compiled from.
func toolsDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the source tree")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", ".ci", "tools")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("tools module not found: %w", err)
	}
	return dir, nil
}
