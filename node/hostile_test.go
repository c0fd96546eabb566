package node_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/audit"
	"github.com/meshrpc/meshrpc/node/stats"
	"github.com/meshrpc/meshrpc/rpc"
)

// A peer with no rule floods the node with denied calls of large names
// made of control characters. The node keeps none of them whole: sys.stats
// counts them under one row, each audit record holds a bounded form, the
// caller's denials beyond its budget become one summary record, and the
// owner's earlier record survives in the audit log.
func TestDeniedNamesAreBoundedInStatsAndAudit(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	state := filepath.Join(t.TempDir(), "home")
	home, err := node.New(context.Background(), node.Config{Hostname: "home", StateDir: state, InMemory: true, Allow: []string{"node:laptop=*"},
		ControlURL: dn.ControlURL(), Progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- home.Serve(serveCtx) }()
	defer stop()
	laptop, stranger := dialAs(t, dn, "laptop"), dialAs(t, dn, "stranger")
	ctx := context.Background()
	if err := laptop.Call(ctx, "home", "kv.put", []any{"backups/all", "ok"}, nil); err != nil {
		t.Fatal(err)
	}

	const flood = 300
	name := strings.Repeat("kv.get\t\n\x1b[2K", 8<<10) // ~100 KB
	for i := range flood {
		err := stranger.Call(ctx, "home", fmt.Sprint(name, i), nil, nil)
		if code := rpc.CodeOf(err); code == 0 || code == rpc.CodeUnavailable {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	p, _ := home.Registry().Lookup("sys.stats")
	res, err := p.Handler.ServeRPC(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range res.(node.StatsReport).Methods {
		if _, ok := home.Registry().Lookup(row.Name); !ok && row.Name != stats.Unknown {
			t.Errorf("sys.stats keeps the name %.40q", row.Name)
		}
	}
	stop() // Serve closes the node, and the audit log writes the summary of the suppressed denials
	if err := <-served; err != nil {
		t.Fatal(err)
	}

	recs := readAudit(t, filepath.Join(state, node.AuditLogName+".1"))
	recs = append(recs, readAudit(t, filepath.Join(state, node.AuditLogName))...)
	var written, suppressed int
	for _, r := range recs {
		switch {
		case r.Node != "stranger":
		case r.Outcome == audit.OutcomeSuppressed:
			var n int
			fmt.Sscanf(r.Error, "%d more", &n)
			suppressed += n
		default:
			written++
			if len(r.Method) > 2*audit.MaxText || len(r.Error) > 2*audit.MaxError {
				t.Fatalf("a record keeps %d bytes of method, %d of error", len(r.Method), len(r.Error))
			}
		}
	}
	if !slices.ContainsFunc(recs, func(r audit.Record) bool { return r.Node == "laptop" && r.Key == "backups/all" }) {
		t.Error("the owner's record is gone from the audit log")
	}
	if written >= flood || written+suppressed != flood {
		t.Errorf("%d of the stranger's %d calls written one by one, %d summarized", written, flood, suppressed)
	}
	if fi, err := os.Stat(filepath.Join(state, "meshrpc.log")); err != nil || fi.Size() > flood*4*audit.MaxError {
		t.Errorf("meshrpc.log: %v, %v", fi.Size(), err)
	}
}
