package mesh

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portFileName records, in the state directory, the UDP port the node's
// WireGuard used last time.
//
// A node that comes back on the same port is reached at once by peers that
// still hold its old endpoint. On a new port, a peer answers the first
// handshake at the stale endpoint it trusts for a few seconds, the answer is
// lost, and WireGuard retries only after 5 s: the delay a one-shot CLI call
// used to pay about every other run.
const portFileName = "wgport"

// savedPort is the port recorded by the last run, or 0.
func savedPort(dir string) uint16 {
	b, err := os.ReadFile(filepath.Join(dir, portFileName))
	if err != nil {
		return 0
	}
	p, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16)
	if err != nil {
		return 0
	}
	return uint16(p)
}

// savePort records port for the next run. Failing to is harmless.
func savePort(dir string, port uint16) {
	if port == 0 || port == savedPort(dir) {
		return
	}
	os.WriteFile(filepath.Join(dir, portFileName), []byte(strconv.Itoa(int(port))+"\n"), 0o600)
}
