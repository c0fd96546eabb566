package node

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node/command"
)

// DefaultPort is where nodes serve JSON-RPC on their tailnet addresses.
const DefaultPort = 4343

// SocketName is the local unix socket of a serving node, in its state
// directory: the CLI reaches the tailnet through it.
const SocketName = "meshrpc.sock"

// Config configures a node. The zero value joins Tailscale's tailnet as this
// machine's hostname with state in mesh.DefaultStateDir, serves on port 4343 with
// the store in STATE_DIR/kv.db, and lets only the same user's devices call.
// Empty Hostname, StateDir and ControlURL are taken from $MESHRPC_HOSTNAME,
// $MESHRPC_STATE_DIR and $MESHRPC_CONTROL_URL, as the meshrpc command's
// flags are: with a devnet's URL exported, a program joins the devnet.
type Config struct {
	Hostname   string
	StateDir   string
	ControlURL string
	AuthKey    string // default $TS_AUTHKEY; never logged
	Ephemeral  bool
	Tags       []string

	Port int // default 4343

	// DataFile is the bbolt file of the store; default STATE_DIR/kv.db.
	DataFile string
	// PersonalBytes and PersonalKeys limit each login's personal space
	// (keys under ~/): bytes of keys and values, and keys. Defaults 64 MiB
	// and 100,000: room for a person's settings and notes, not for one
	// device to fill the node's disk. Deletes always work.
	PersonalBytes int64
	PersonalKeys  int64
	// InMemory keeps the store in a temporary file without fsync, removed on
	// Close: for tests and the demo only.
	InMemory bool
	// CheckStore runs the store's full consistency check at start (see
	// store.Options.Check); InitStore makes a store in an existing 0-byte
	// DataFile, which is otherwise refused (store.Options.InitEmpty).
	CheckStore bool
	InitStore  bool

	// Allow holds --allow rules ("self", "tag:laptop=kv.*,sys.*"). Empty
	// means "self" for all methods; rules given replace that default.
	Allow []string

	// NoAccounting turns off the audit log, the counting behind sys.stats
	// and the line per call in the node's log: for measuring what they
	// cost, or for a node whose calls must leave no trace on its disk.
	NoAccounting bool

	// Commands are programs served as procedures (see package command);
	// each may allow more callers for itself.
	Commands []command.Spec

	// Progress receives what a person waits on (the login URL, "joined").
	// Default os.Stderr.
	Progress io.Writer
	// TailscaleLogf receives tsnet's own logs (verbose); otherwise they go
	// to a file in the state directory.
	TailscaleLogf func(format string, args ...any)
	// Logger receives a line per call and the node's own events; default:
	// STATE_DIR/meshrpc.log.
	Logger *slog.Logger

	// ControlTimeout bounds the wait for the control server; see mesh.Config.
	ControlTimeout time.Duration
}

// hostnameFile remembers the node's hostname in its state directory, so a
// later run without --hostname does not rename it.
const hostnameFile = "hostname"

// environment fills the empty Hostname, StateDir and ControlURL from the
// environment, as mesh.Config.FromEnvironment does.
func environment(hostname, stateDir, controlURL *string) {
	c := mesh.Config{Hostname: *hostname, StateDir: *stateDir, ControlURL: *controlURL}.FromEnvironment()
	*hostname, *stateDir, *controlURL = c.Hostname, c.StateDir, c.ControlURL
}

func resolveIdentity(hostname, stateDir string) (string, string, error) {
	if stateDir == "" {
		d, err := mesh.DefaultStateDir()
		if err != nil {
			return "", "", err
		}
		stateDir = d
	}
	if hostname == "" {
		if b, err := os.ReadFile(filepath.Join(stateDir, hostnameFile)); err == nil {
			hostname = strings.TrimSpace(string(b))
		}
	}
	if hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", "", fmt.Errorf("node: no hostname given: %w", err)
		}
		hostname = h
	}
	return hostname, stateDir, nil
}

func rememberHostname(stateDir, hostname string) {
	p := filepath.Join(stateDir, hostnameFile)
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == hostname {
		return
	}
	os.WriteFile(p, []byte(hostname+"\n"), 0o600)
}

func (c Config) meshConfig(hostname, stateDir string) mesh.Config {
	return mesh.Config{
		Hostname:       hostname,
		StateDir:       stateDir,
		ControlURL:     c.ControlURL,
		AuthKey:        c.AuthKey,
		Ephemeral:      c.Ephemeral,
		Tags:           c.Tags,
		Progress:       c.Progress,
		Logf:           c.TailscaleLogf,
		ControlTimeout: c.ControlTimeout,
		Serves:         true,
	}
}
