package realtailnet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
)

// HeadscaleConfig configures a Headscale for a test. The zero value is a
// tailnet where every node may reach every other.
type HeadscaleConfig struct {
	// BaseDomain is the MagicDNS domain; default "hs.meshrpc.test".
	BaseDomain string
}

// Headscale is a running Headscale server on 127.0.0.1, its config, database,
// keys and log in Dir.
type Headscale struct {
	URL    string // control URL, also the DERP server: http://127.0.0.1:PORT
	Dir    string
	Config string // path of the generated config.yaml
	bin    string
	proc   *Process
}

// User is a Headscale user.
type User struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

// StartHeadscale starts Headscale in a directory of t.TempDir() and waits
// until it answers; t.Cleanup stops it. Skips the test when the headscale
// binary is not available (see [Binary]).
func StartHeadscale(t testing.TB, cfg HeadscaleConfig) *Headscale {
	t.Helper()
	bin := Binary(t, HeadscaleTool)
	if cfg.BaseDomain == "" {
		cfg.BaseDomain = "hs.meshrpc.test"
	}
	dir := filepath.Join(t.TempDir(), "headscale")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t, "tcp")
	v := configValues{
		URL:         fmt.Sprintf("http://127.0.0.1:%d", port),
		Listen:      fmt.Sprintf("127.0.0.1:%d", port),
		Dir:         dir,
		Socket:      socketPath(t, dir, "headscale.sock"),
		BaseDomain:  cfg.BaseDomain,
		MetricsPort: FreePort(t, "tcp"),
		GRPCPort:    FreePort(t, "tcp"),
		STUNPort:    FreePort(t, "udp"),
	}
	h := &Headscale{URL: v.URL, Dir: dir, Config: filepath.Join(dir, "config.yaml"), bin: bin}
	if err := writeConfig(h.Config, v); err != nil {
		t.Fatalf("write headscale config: %v", err)
	}
	h.proc = Start(t, filepath.Join(dir, "headscale.log"), nil, bin, "--config", h.Config, "serve")
	h.waitReady(t)
	return h
}

// waitReady polls /health and the CLI's socket until both answer, failing
// at once if Headscale exits.
func (h *Headscale) waitReady(t testing.TB) {
	t.Helper()
	poll.Until(t, time.Minute, func() error {
		if exited, err := h.proc.Exited(); exited {
			t.Fatalf("headscale exited (%v); its log:\n%s", err, h.proc.Tail())
		}
		if h.healthy() {
			if _, err := h.CLI(context.Background(), "users", "list"); err == nil {
				return nil
			}
		}
		return fmt.Errorf("headscale at %s is not ready; its log:\n%s", h.URL, h.proc.Tail())
	})
}

func (h *Headscale) healthy() bool {
	resp, err := http.Get(h.URL + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// CLI runs headscale's own command line against this server (same config,
// over its unix socket) and returns what it printed on stdout.
func (h *Headscale) CLI(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return run(ctx, nil, append([]string{h.bin, "--config", h.Config, "--force"}, args...)...)
}

// CreateUser adds a user through `headscale users create`.
func (h *Headscale) CreateUser(t testing.TB, name string) User {
	t.Helper()
	out, err := h.CLI(context.Background(), "users", "create", name, "--output", "json")
	if err != nil {
		t.Fatalf("create headscale user %s: %v", name, err)
	}
	var u User
	if err := json.Unmarshal(out, &u); err != nil || u.ID == 0 {
		t.Fatalf("create headscale user %s: cannot read %q: %v", name, out, err)
	}
	return u
}

// AuthKey makes a reusable pre-auth key through `headscale preauthkeys
// create`. Nodes joining with it belong to user, or, with tags, are tagged
// nodes owned by those tags (user may then be the zero User).
func (h *Headscale) AuthKey(t testing.TB, user User, tags ...string) string {
	t.Helper()
	args := []string{"preauthkeys", "create", "--reusable", "--expiration", "24h", "--output", "json"}
	if user.ID != 0 {
		args = append(args, "--user", strconv.FormatUint(user.ID, 10))
	}
	if len(tags) > 0 {
		args = append(args, "--tags", strings.Join(tags, ","))
	}
	out, err := h.CLI(context.Background(), args...)
	if err != nil {
		t.Fatalf("create a pre-auth key for user %q tags %v: %v", user.Name, tags, err)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &k); err != nil || k.Key == "" {
		t.Fatalf("create a pre-auth key: cannot read the key from the CLI's output: %v", err)
	}
	return k.Key
}

// SetPolicy replaces the tailnet policy (HuJSON) through `headscale policy
// set`. Nodes receive it with their next map update.
func (h *Headscale) SetPolicy(t testing.TB, policy string) {
	t.Helper()
	path := filepath.Join(h.Dir, "policy.hujson")
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CLI(context.Background(), "policy", "set", "--file", path); err != nil {
		t.Fatalf("set the headscale policy: %v", err)
	}
}

// ClientEnv is the environment a Tailscale client (tsnet in another
// process, tailscaled) needs to use this server's DERP relay, which speaks
// plain HTTP on loopback rather than TLS.
func (h *Headscale) ClientEnv() []string {
	return []string{"TS_DEBUG_USE_DERP_HTTP=true"}
}

// Log is the end of Headscale's log, for failure messages.
func (h *Headscale) Log() string { return h.proc.Tail() }

// socketPath is dir/name, or, when that is too long for a unix socket
// address (108 bytes on Linux), name in a fresh short temporary directory.
func socketPath(t testing.TB, dir, name string) string {
	t.Helper()
	if p := filepath.Join(dir, name); len(p) < 100 {
		return p
	}
	short, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	return filepath.Join(short, name)
}
