package node

import (
	"os"
	"runtime/debug"
)

// DefaultMemoryLimit is the soft memory limit `meshrpc serve` gives the Go
// runtime unless GOMEMLIMIT sets one (docs/security.md, the resource
// model): far above an idle node's 40 MiB, below what a peer that keeps the
// node's buffers busy would otherwise make it hold.
const DefaultMemoryLimit = 192 << 20

// LimitMemory sets the process's soft memory limit
// (runtime/debug.SetMemoryLimit) to DefaultMemoryLimit, unless the
// GOMEMLIMIT environment variable sets one. Under pressure the garbage
// collector then works harder rather than the process growing: a paced
// attack by a peer with no rule held the node under it (at the cost of
// slower calls meanwhile), where Go's default let it grow to 357 MiB. It is
// process-wide: `meshrpc serve` calls it; a program that embeds a node
// decides for itself.
func LimitMemory() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
}
