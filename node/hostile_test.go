package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/node/audit"
	"github.com/meshrpc/meshrpc/node/command"
	"github.com/meshrpc/meshrpc/node/stats"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
	"github.com/meshrpc/meshrpc/store"
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
	for _, row := range res.(api.StatsReport).Methods {
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

// kv.list's limit counts the entries the caller sees: a stranger's 250
// personal keys, listed before the owner's, do not hide them. rpc.allowed
// with why does not show a command's argv to a caller that may not run it.
func TestListLimitAndAllowedHideWhatOthersMayNotSee(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	backup := command.Spec{Name: "backup", Argv: []string{"echo", "--token=s3cret"}}
	home := startNode(t, dn, node.Config{Hostname: "home", InMemory: true, Allow: []string{"*=sys.whoami"}, Commands: []command.Spec{backup}})
	a, b := dialAs(t, dn, "peer-a"), dialAs(t, dn, "peer-b")
	ctx := context.Background()
	var ida, idb rpc.Caller
	if err := a.Call(ctx, "home", "sys.whoami", nil, &ida); err != nil {
		t.Fatal(err)
	}
	if err := b.Call(ctx, "home", "sys.whoami", nil, &idb); err != nil {
		t.Fatal(err)
	}
	// The stranger's personal keys sort before the owner's.
	owner, stranger, ownerName := a, b, ida.Node
	if ida.Login < idb.Login {
		owner, stranger, ownerName = b, a, idb.Node
	}
	if err := home.Reconfigure([]string{"node:" + ownerName + "=*"}, []command.Spec{backup}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"~/mine1", "~/mine2"} {
		if err := owner.Call(ctx, "home", "kv.put", []any{k, 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 250 {
		if err := stranger.Call(ctx, "home", "kv.put", []any{fmt.Sprintf("~/k%03d", i), i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var entries []struct{ Key string }
	if err := owner.Call(ctx, "home", "kv.list", map[string]any{"prefix": "", "limit": 200}, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || !strings.HasSuffix(entries[0].Key, "/mine1") || !strings.HasSuffix(entries[1].Key, "/mine2") {
		t.Fatalf("the owner's listing with limit 200: %+v", entries)
	}
	if err := owner.Call(ctx, "home", "kv.list", map[string]any{"prefix": "", "limit": 1}, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("limit 1: %+v, %v", entries, err)
	}

	var procs []api.Allowed
	if err := stranger.Call(ctx, "home", authz.AllowedMethod, api.AllowedParams{Why: true}, &procs); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if strings.Contains(p.Summary, "s3cret") || strings.Contains(p.Hint, "s3cret") || strings.Contains(p.By, "s3cret") {
			t.Fatalf("rpc.allowed shows the stranger a command's argv: %+v", p)
		}
	}
	if err := owner.Call(ctx, "home", authz.AllowedMethod, api.AllowedParams{Why: true}, &procs); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(procs, func(p api.Allowed) bool { return p.Name == "backup" && strings.Contains(p.Summary, "s3cret") }) {
		t.Fatalf("the owner, who may run backup, does not see its summary: %+v", procs)
	}
}

// A kv.watch reply holds at most store.MaxWatchBytes of keys and values,
// however large the changes: a caller that watches from the start of a log
// of large values gets them over several replies, resuming from the rev it
// got, and sees every change exactly once.
func TestKVWatchRepliesAreBoundedInBytes(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	c := dialAs(t, dn, "cafe")
	ctx := context.Background()
	big, _ := json.Marshal(strings.Repeat("v", 500<<10))
	const changes = 20 // ~10 MB of changes
	for i := range changes {
		if err := c.Call(ctx, "home", "kv.put", api.PutParams{Key: fmt.Sprintf("big/%02d", i), Value: big}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var seen []int64
	after := int64(0)
	for replies := 1; len(seen) < changes; replies++ {
		var res api.WatchResult
		if err := c.Call(ctx, "home", "kv.watch", api.WatchParams{Prefix: "big/", AfterRev: after, Wait: 1}, &res); err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, e := range res.Events {
			size += len(e.Key) + len(e.Value)
			seen = append(seen, e.Rev)
		}
		if size > store.MaxWatchBytes || len(res.Events) == 0 {
			t.Fatalf("reply %d: %d changes, %d bytes (at most %d)", replies, len(res.Events), size, store.MaxWatchBytes)
		}
		after = res.Rev
		if replies > changes {
			t.Fatalf("%d replies for %d changes", replies, changes)
		}
	}
	if len(seen) != changes || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != changes {
		t.Fatalf("watch gave revisions %v", seen)
	}
}

// A person with no rule may still use its own personal space and call
// rpc.allowed, and a flood of such calls must not rotate the owner's
// history out of the audit log either: a stranger's calls that need no
// rule are written one by one up to its budget and summarized beyond,
// while the node's own user's are all written. Calls refused for bad params are
// budgeted whoever makes them. A call of several keys is budgeted only
// when all of them are in the caller's own space: one that leads with an
// own key and writes a shared one is always written.
func TestOwnSpaceFloodKeepsTheOwnersHistory(t *testing.T) {
	const flood = 300
	for _, c := range []struct {
		name     string
		separate bool // the flooding peer is another person, not the node's own user
	}{{"stranger", true}, {"own user", false}} {
		t.Run(c.name, func(t *testing.T) {
			recs := floodOwnSpace(t, c.separate, flood)
			var own, ownSummarized, bad, badSummarized int
			var owner, mixed bool
			counts := regexp.MustCompile(`^(?:(\d+) more refused calls)?(?: and )?(?:(\d+) more calls that need no rule \(on its own keys, rpc.allowed\))? from`)
			for _, r := range recs {
				switch {
				case r.Node == "laptop" && r.Key == "backups/all":
					owner = true
				case r.Node == "laptop" && r.Method == "kv.put_all":
					mixed = true
				case r.Node != "peer":
				case r.Outcome == audit.OutcomeSuppressed:
					m := counts.FindStringSubmatch(r.Error)
					if m == nil {
						t.Fatalf("summary %q", r.Error)
					}
					k, _ := strconv.Atoi(m[1])
					badSummarized += k
					k, _ = strconv.Atoi(m[2])
					ownSummarized += k
				case r.Code == rpc.CodeInvalidParams:
					bad++
				case r.Method == "kv.inc" || r.Method == "kv.put_all" || r.Method == authz.AllowedMethod:
					own++
				}
			}
			if !owner || !mixed {
				t.Errorf("the owner's records are gone from the audit log: backups/all %v, put_all of a shared key %v", owner, mixed)
			}
			if bad >= flood || bad+badSummarized != flood {
				t.Errorf("%d calls of a bad key: %d written one by one, %d summarized", flood, bad, badSummarized)
			}
			switch calls := 2*flood + 1; {
			case c.separate && (own >= calls || own+ownSummarized != calls):
				t.Errorf("the stranger's %d calls that need no rule: %d written one by one, %d summarized", calls, own, ownSummarized)
			case !c.separate && (own != calls || ownSummarized != 0):
				t.Errorf("the own user's %d calls that need no rule: %d written one by one, %d summarized", calls, own, ownSummarized)
			}
		})
	}
}

// floodOwnSpace has a peer make n kv.inc calls and one kv.put_all on its
// own personal space, n of rpc.allowed and n kv.get calls of a bad key,
// while laptop, allowed everything, floods its own
// space too, then writes a kv.put_all that leads with one of its own keys
// and writes a shared one; it returns the audit log's records.
func floodOwnSpace(t *testing.T, separate bool, n int) []audit.Record {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: separate})
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
	laptop, peer := dialAs(t, dn, "laptop"), dialAs(t, dn, "peer")
	ctx := context.Background()
	if err := laptop.Call(ctx, "home", "kv.put", []any{"backups/all", "ok"}, nil); err != nil {
		t.Fatal(err)
	}
	var got int64
	for range n {
		if err := peer.Call(ctx, "home", "kv.inc", []any{"~/n"}, &got); err != nil {
			t.Fatal(err)
		}
		if err := laptop.Call(ctx, "home", "kv.inc", []any{"~/m"}, nil); err != nil { // the same space when they are one person
			t.Fatal(err)
		}
		if err := peer.Call(ctx, "home", "kv.get", []any{"~/bad\x1bkey"}, nil); rpc.CodeOf(err) != rpc.CodeInvalidParams {
			t.Fatalf("kv.get of a key with ESC: %v", err)
		}
		if err := peer.Call(ctx, "home", authz.AllowedMethod, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got != int64(n) {
		t.Fatalf("kv.inc ~/n ended at %d after %d calls", got, n)
	}
	one := json.RawMessage(`1`)
	own := api.PutAllParams{Entries: []api.PutParams{{Key: "~/a", Value: one}, {Key: "~/b", Value: one}}}
	if err := peer.Call(ctx, "home", "kv.put_all", own, nil); err != nil {
		t.Fatal(err)
	}
	mixed := api.PutAllParams{Entries: []api.PutParams{{Key: "~/a", Value: one}, {Key: "shared/b", Value: one}}}
	if err := laptop.Call(ctx, "home", "kv.put_all", mixed, nil); err != nil {
		t.Fatal(err)
	}
	stop() // the audit log writes its summaries as the node closes
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	return readAudit(t, filepath.Join(state, node.AuditLogName))
}
