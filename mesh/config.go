package mesh

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Config says how to join a tailnet. The zero value joins Tailscale's service
// as this machine's hostname, with state under the user's config directory,
// logging in interactively unless TS_AUTHKEY is set. Empty fields are taken
// from the same environment variables as the meshrpc command's flags (see
// FromEnvironment), so a program started with a devnet's
// MESHRPC_CONTROL_URL exported joins the devnet.
type Config struct {
	// Hostname is the node's name on the tailnet; default
	// $MESHRPC_HOSTNAME, else os.Hostname().
	Hostname string

	// StateDir holds the node's keys and tsnet's log. Default:
	// $MESHRPC_STATE_DIR, else DefaultStateDir(). Created 0700.
	StateDir string

	// ControlURL is the coordination server; default $MESHRPC_CONTROL_URL,
	// else Tailscale's. A loopback URL (a devnet) makes the node use
	// loopback endpoints only.
	ControlURL string

	// AuthKey joins without an interactive login; default $TS_AUTHKEY. It is
	// used only when the state directory holds no identity yet, and never
	// logged.
	AuthKey string

	// Ephemeral nodes are removed from the tailnet soon after they go away.
	Ephemeral bool

	// Tags are ACL tags the node asks for ("tag:home").
	Tags []string

	// Progress receives the lines a person waits on while joining: the login
	// URL and "connected". Default os.Stderr; io.Discard silences it.
	Progress io.Writer

	// Logf, if set, receives tsnet's own logs (meshrpc --verbose). Otherwise
	// they go to tsnet.log in StateDir.
	Logf func(format string, args ...any)

	// ControlTimeout bounds how long Join waits for the control server to
	// answer at all (a login URL or a running node) before failing with an
	// error that names the control URL. Default 30 s. Once a login URL is
	// shown, Join waits for the person until its context ends.
	ControlTimeout time.Duration
	// Serves marks a node that others call (meshrpc serve): once joined, it
	// opens WireGuard sessions to its peers itself, so that a peer whose
	// calls wait for it after a restart does not wait 5 s for a handshake
	// (see reopen.go). A node that only calls leaves it false.
	Serves bool
}

// The environment variables that empty Config fields are taken from; the
// meshrpc command's --hostname, --state-dir and --control-url default to
// them too.
const (
	EnvHostname   = "MESHRPC_HOSTNAME"
	EnvStateDir   = "MESHRPC_STATE_DIR"
	EnvControlURL = "MESHRPC_CONTROL_URL"
)

// FromEnvironment returns c with its empty Hostname, StateDir and
// ControlURL taken from MESHRPC_HOSTNAME, MESHRPC_STATE_DIR and
// MESHRPC_CONTROL_URL. Join does this itself; it is exported for
// programs that need the resolved values first.
func (c Config) FromEnvironment() Config {
	for _, f := range []struct {
		field *string
		env   string
	}{{&c.Hostname, EnvHostname}, {&c.StateDir, EnvStateDir}, {&c.ControlURL, EnvControlURL}} {
		if *f.field == "" {
			*f.field = os.Getenv(f.env)
		}
	}
	return c
}

func (c Config) withDefaults() (Config, error) {
	c = c.FromEnvironment()
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("mesh: no hostname given and os.Hostname failed: %w", err)
		}
		c.Hostname = h
	}
	if c.StateDir == "" {
		dir, err := DefaultStateDir()
		if err != nil {
			return c, err
		}
		c.StateDir = dir
	}
	if c.AuthKey == "" {
		c.AuthKey = os.Getenv("TS_AUTHKEY")
	}
	if c.Progress == nil {
		c.Progress = os.Stderr
	}
	if c.ControlTimeout <= 0 {
		c.ControlTimeout = 30 * time.Second
	}
	return c, nil
}

// DefaultStateDir is the state directory used when none is given:
// os.UserConfigDir()/meshrpc/default. `meshrpc serve` and the other
// commands share it, so that the CLI finds the serving node's socket.
func DefaultStateDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("mesh: no state directory given and no user config directory: %w", err)
	}
	return filepath.Join(base, "meshrpc", "default"), nil
}
