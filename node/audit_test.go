package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/node/audit"
	"github.com/meshrpc/meshrpc/rpc"
)

// Calls allowed and denied both reach the audit log, with the caller the
// tailnet names and the key of kv.* calls; sys.stats counts them.
func TestAuditLogAndStatsSeeEveryCall(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	state := filepath.Join(t.TempDir(), "home")
	home := startNode(t, dn, node.Config{Hostname: "home", StateDir: state, InMemory: true, Allow: []string{"self", "node:stranger=kv.get"}})
	stranger := dialAs(t, dn, "stranger")
	ctx := context.Background()
	if err := stranger.Call(ctx, "home", "kv.get", map[string]string{"key": "shared/greeting"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := stranger.Call(ctx, "home", "kv.put", []any{"secret/x", 1}, nil); rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Fatalf("kv.put: %v", err)
	}

	var recs []audit.Record
	poll.Until(t, 10*time.Second, func() error {
		if recs = readAudit(t, filepath.Join(state, node.AuditLogName)); len(recs) < 2 {
			return fmt.Errorf("the audit log holds %d records, want 2: %+v", len(recs), recs)
		}
		return nil
	})
	get, put := recs[0], recs[1]
	if get.Method != "kv.get" || get.Key != "shared/greeting" || get.Outcome != audit.OutcomeOK || get.Node != "stranger" || get.Login == "" || get.CallID == "" {
		t.Errorf("allowed call: %+v", get)
	}
	if put.Method != "kv.put" || put.Key != "secret/x" || put.Outcome != audit.OutcomeDenied || put.Code != rpc.CodePermissionDenied || put.Node != "stranger" {
		t.Errorf("denied call: %+v", put)
	}
	if fi, err := os.Stat(filepath.Join(state, node.AuditLogName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log: %v %v", fi.Mode(), err)
	}
	// The call id is in the node's own log too (DESIGN.md: both sides'
	// logs), once its buffer is flushed (every 500 ms).
	poll.Until(t, 5*time.Second, func() error {
		if logs, _ := os.ReadFile(filepath.Join(state, "meshrpc.log")); !bytes.Contains(logs, []byte(get.CallID)) {
			return fmt.Errorf("meshrpc.log lacks the call id %s:\n%s", get.CallID, logs)
		}
		return nil
	})

	p, _ := home.Registry().Lookup("sys.stats")
	res, err := p.Handler.ServeRPC(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := res.(api.StatsReport)
	if rep.Calls != 2 || rep.Errors != 1 || len(rep.Callers) != 1 || rep.Callers[0].Name != "stranger" || rep.Callers[0].Calls != 2 {
		t.Fatalf("sys.stats: %+v", rep)
	}
}

func readAudit(t *testing.T, path string) []audit.Record {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var recs []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// A NoAccounting node leaves no record of its calls on disk: no audit log,
// and no call lines in its own log.
func TestNoAccountingLeavesNoRecordOfCalls(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	state := filepath.Join(t.TempDir(), "quiet")
	quiet := startNode(t, dn, node.Config{Hostname: "quiet", StateDir: state, InMemory: true, NoAccounting: true})
	c := dialAs(t, dn, "cafe")
	if err := c.Call(context.Background(), "quiet", "kv.put", []any{"secret/x", 1}, nil); err != nil {
		t.Fatal(err)
	}
	quiet.Close() // flushes its log
	if _, err := os.Stat(filepath.Join(state, node.AuditLogName)); !os.IsNotExist(err) {
		t.Errorf("audit log of a NoAccounting node: %v", err)
	}
	logs, err := os.ReadFile(filepath.Join(state, "meshrpc.log"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(logs, []byte("kv.put")) || bytes.Contains(logs, []byte("secret/x")) {
		t.Errorf("meshrpc.log records the call:\n%s", logs)
	}
}
