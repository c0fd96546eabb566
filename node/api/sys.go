package api

import (
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node/stats"
)

// NoParams is the params of a procedure that takes none.
type NoParams struct{}

// Uname is sys.uname's result: uname(2) of the node's machine.
type Uname struct {
	Sysname  string `json:"sysname"`
	Nodename string `json:"nodename"`
	Release  string `json:"release"`
	Version  string `json:"version"`
	Machine  string `json:"machine"`
}

// Info is sys.info's result: the node and its machine.
type Info struct {
	Node          string  `json:"node"`
	Host          string  `json:"host"`
	OS            string  `json:"os"`
	Arch          string  `json:"arch"`
	Version       string  `json:"version"` // meshrpc's
	GoVersion     string  `json:"go_version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Methods       int     `json:"methods"`
	// StoreOffline is why the store went offline (kv.* then answer
	// -32005); absent while it serves.
	StoreOffline string `json:"store_offline,omitempty"`
}

// StatsReport is sys.stats's result.
type StatsReport struct {
	stats.Report
	// AuditLost counts audit records dropped because the writer fell
	// behind (each gap is also marked in the log itself).
	AuditLost int64 `json:"audit_lost"`
}

// PeerStatus is one peer in sys.peers's result: the tailnet's view, and
// whether it answers as a meshrpc node.
type PeerStatus struct {
	mesh.Peer
	Meshrpc bool   `json:"meshrpc"`
	Version string `json:"version,omitempty"`
}
