package realtailnet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
)

// TailscaledConfig says how to run a plain Tailscale client: Tailscale's own
// daemon, with no meshrpc code, as on a laptop or phone.
type TailscaledConfig struct {
	ControlURL string   // the tailnet's control server (required)
	AuthKey    string   // for `tailscale up --authkey`; a devnet needs none
	Hostname   string   // default "phone"
	Env        []string // added to the daemon's environment, e.g. Headscale.ClientEnv()
}

// Tailscaled is a running tailscaled in userspace-networking mode: it needs
// no TUN device and no privileges, and reaches the tailnet for other
// programs through its SOCKS5 proxy, as the Tailscale app on a phone does
// for its apps.
type Tailscaled struct {
	SOCKS5 string // the proxy's address, 127.0.0.1:PORT
	Dir    string // state and log
	socket string
	cli    string
	env    []string
	proc   *Process
}

// StartTailscaled starts tailscaled in a directory of t.TempDir(), brings it
// up on cfg.ControlURL with `tailscale up`, and stops it at t.Cleanup. Skips
// the test when the binaries are not available (see [Binary]).
func StartTailscaled(t testing.TB, cfg TailscaledConfig) *Tailscaled {
	t.Helper()
	daemon := Binary(t, TailscaledTool)
	cli := Binary(t, TailscaleTool)
	if cfg.Hostname == "" {
		cfg.Hostname = "phone"
	}
	dir := filepath.Join(t.TempDir(), "tailscaled-"+cfg.Hostname)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := &Tailscaled{
		SOCKS5: fmt.Sprintf("127.0.0.1:%d", FreePort(t, "tcp")),
		Dir:    dir,
		socket: socketPath(t, dir, "tailscaled.sock"),
		cli:    cli,
		// Only loopback here: tailscaled must believe the network is up
		// with no default route, and advertise no endpoint but the one
		// STUN on 127.0.0.1 finds.
		env: append([]string{"TS_ASSUME_NETWORK_UP_FOR_TEST=true", "TS_DEBUG_OMIT_LOCAL_ADDRS=true"}, cfg.Env...),
	}
	d.proc = Start(t, filepath.Join(dir, "tailscaled.log"), d.env, daemon,
		"--tun=userspace-networking",
		"--socks5-server="+d.SOCKS5,
		"--state="+filepath.Join(dir, "tailscaled.state"),
		"--statedir="+dir,
		"--socket="+d.socket,
		"--port=0",
		"--no-logs-no-support",
	)
	d.waitDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	up := []string{"up", "--login-server=" + cfg.ControlURL, "--hostname=" + cfg.Hostname, "--timeout=60s"}
	if cfg.AuthKey != "" {
		up = append(up, "--authkey="+cfg.AuthKey)
	}
	if _, err := d.CLI(ctx, up...); err != nil {
		t.Fatalf("tailscale up: %v\ntailscaled's log:\n%s", err, d.proc.Tail())
	}
	return d
}

// waitDaemon waits until tailscaled answers on its socket.
func (d *Tailscaled) waitDaemon(t testing.TB) {
	t.Helper()
	poll.Until(t, 30*time.Second, func() error {
		if exited, err := d.proc.Exited(); exited {
			t.Fatalf("tailscaled exited (%v); its log:\n%s", err, d.proc.Tail())
		}
		if _, err := d.CLI(context.Background(), "status", "--json"); err != nil {
			return fmt.Errorf("tailscaled does not answer on %s; its log:\n%s", d.socket, d.proc.Tail())
		}
		return nil
	})
}

// CLI runs the tailscale command line against this daemon.
func (d *Tailscaled) CLI(ctx context.Context, args ...string) ([]byte, error) {
	return run(ctx, d.env, append([]string{d.cli, "--socket=" + d.socket}, args...)...)
}

// WaitPeer waits until the daemon sees a peer named name (MagicDNS short
// name) online, failing the test after 30 seconds.
func (d *Tailscaled) WaitPeer(t testing.TB, name string) {
	t.Helper()
	poll.Until(t, 30*time.Second, func() error {
		out, err := d.CLI(context.Background(), "status", "--json")
		if err != nil {
			return fmt.Errorf("tailscaled does not see %s online: %v", name, err)
		}
		var st struct {
			Peer map[string]struct {
				HostName string
				Online   bool
			}
		}
		if err := json.Unmarshal(out, &st); err != nil {
			return fmt.Errorf("tailscaled does not see %s online: status: %v", name, err)
		}
		for _, p := range st.Peer {
			if p.HostName == name && p.Online {
				return nil
			}
		}
		return fmt.Errorf("tailscaled does not see %s online", name)
	})
}

// Socket is the daemon's LocalAPI socket, for clients such as
// meshrpc --tailscale-socket.
func (d *Tailscaled) Socket() string { return d.socket }

// Log is the end of tailscaled's log, for failure messages.
func (d *Tailscaled) Log() string { return d.proc.Tail() }

// Curl runs curl through the daemon's SOCKS5 proxy, letting the proxy
// resolve names (MagicDNS), and returns what curl printed. Skips the test
// when curl is not installed (fails it under CI).
func (d *Tailscaled) Curl(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		msg := "curl is not installed (apt-get install curl)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{curl, "--silent", "--show-error", "--max-time", "30", "--socks5-hostname", d.SOCKS5}, args...)
	return run(ctx, nil, argv...)
}
