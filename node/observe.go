package node

import (
	"context"
	"strings"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/node/audit"
	"github.com/meshrpc/meshrpc/node/stats"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

// AuditLogName is the audit log's file in the state directory.
const AuditLogName = "audit.log"

// observe counts every call and appends it to the audit log.
func (n *Node) observe(r *rpc.CallRecord) {
	// Callers choose the names they call: stats count a name only once it
	// is registered, and the rest under one row, so a caller cannot make
	// the node keep names (the audit keeps a bounded form of each).
	statsName := r.Method
	if _, ok := n.reg.Lookup(r.Method); !ok {
		statsName = stats.Unknown
	}
	n.stats.Observe(statsName, r.Caller.Name(), r.Duration, r.Code != 0)
	if n.audit == nil {
		return
	}
	rec := audit.Record{
		Time: r.Time, CallID: r.CallID,
		Node: r.Caller.Node, Login: r.Caller.Login, Tags: r.Caller.Tags, Addr: r.Caller.Addr,
		Method: r.Method, Outcome: audit.OutcomeOK, Code: r.Code, Error: r.Message,
		DurationMs: float64(r.Duration.Microseconds()) / 1000, Replayed: r.Replayed,
		Key: r.Key,
	}
	// Anyone may call rpc.allowed, and every person may use its own
	// personal space, with no rule: the audit budgets those calls per
	// caller (the node's own user's aside), so that a peer cannot rotate
	// the owner's history away with them. A call of several keys is in
	// that space only when every key is.
	self := n.selfLogin != "" && r.Caller.Login == n.selfLogin && len(r.Caller.Tags) == 0
	rec.NoRule = !self &&
		(r.Method == authz.AllowedMethod || r.Caller.Login != "" && strings.HasPrefix(r.Under, "~"+r.Caller.Login+"/"))
	switch r.Code {
	case 0:
	case rpc.CodePermissionDenied:
		rec.Outcome = audit.OutcomeDenied
	default:
		rec.Outcome = audit.OutcomeError
	}
	n.audit.Append(rec)
}

func registerStats(r *rpc.Registry, n *Node) {
	rpc.Register(r, "sys.stats", "Calls, errors and latency (p50, p99) per method and per caller since the node started.",
		func(ctx context.Context, _ api.NoParams) (api.StatsReport, error) {
			rep := api.StatsReport{Report: n.stats.Report()}
			if n.audit != nil {
				rep.AuditLost = n.audit.Lost()
			}
			return rep, nil
		}).ReadOnly = true
}
