package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/node/audit"
	"github.com/meshrpc/meshrpc/rpc"
)

func batch(value string, keys ...string) api.PutAllParams {
	p := api.PutAllParams{}
	for _, k := range keys {
		p.Entries = append(p.Entries, api.PutParams{Key: k, Value: json.RawMessage(value)})
	}
	return p
}

// kv.put_all over the tailnet: each key is authorized as the method on
// that key alone would be (a key-scoped rule, the caller's personal
// space), and a batch with one key denied, or one that would take a space
// past its quota, writes nothing; the audit log holds one record per
// batch, naming its first key and the count.
func TestKVPutAllIsOneWriteAuthorizedPerKey(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	state := filepath.Join(t.TempDir(), "home")
	startNode(t, dn, node.Config{Hostname: "home", StateDir: state, PersonalKeys: 5,
		Allow: []string{"self", "node:phone=kv.put_all@shared/*,kv.get,kv.list"}})
	phone := dialAs(t, dn, "phone")
	ctx := context.Background()
	var res api.PutAllResult
	if err := phone.Call(ctx, "home", "kv.put_all", batch("1", "shared/a", "shared/b"), &res); err != nil || res.Written != 2 || res.Rev == 0 {
		t.Fatalf("a batch the rule allows: %+v, %v", res, err)
	}

	for _, c := range []struct {
		name string
		p    api.PutAllParams
		code int
		says string
	}{
		{"one key outside the rule's scope", batch("2", "shared/c", "shared/d", "private/x"), rpc.CodePermissionDenied, `"private/x"`},
		{"past the personal quota", batch("3", "~/1", "~/2", "~/3", "~/4", "~/5", "~/6"), rpc.CodeQuotaExceeded, "holds 0 keys"},
		{"a key twice", batch("4", "shared/e", "shared/e"), rpc.CodeInvalidParams, "given twice"},
		{"an invalid key", batch("5", "shared/f", "shared/\x01"), rpc.CodeInvalidParams, "control character"},
		{"too many keys", batch("6", keys("shared/many/", rpc.MaxCallKeys+1)...), rpc.CodeInvalidParams, "the limit is 1000"},
	} {
		err := phone.Call(ctx, "home", "kv.put_all", c.p, nil)
		if rpc.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want code %d saying %s", c.name, err, c.code, c.says)
		}
	}
	var all []api.Entry
	if err := phone.Call(ctx, "home", "kv.list", api.ListParams{}, &all); err != nil || len(all) != 2 {
		t.Fatalf("after the refused batches, the store holds %v (%v); want shared/a and shared/b only", all, err)
	}

	// The personal space, within its quota: written as ~LOGIN/...
	if err := phone.Call(ctx, "home", "kv.put_all", batch(`"mine"`, "~/1", "~/2", "~/3", "~/4", "~/5"), &res); err != nil || res.Written != 5 {
		t.Fatalf("a batch into the personal space: %+v, %v", res, err)
	}
	var v string
	if err := phone.Call(ctx, "home", "kv.get", api.KeyParams{Key: "~/5"}, &v); err != nil || v != "mine" {
		t.Fatalf("~/5 = %q, %v", v, err)
	}
	// if_absent leaves present keys as they are.
	p := batch(`"new"`, "shared/a", "shared/z")
	p.IfAbsent = true
	if err := phone.Call(ctx, "home", "kv.put_all", p, &res); err != nil || res.Written != 1 || res.Present != 1 {
		t.Fatalf("if_absent: %+v, %v", res, err)
	}

	var recs []audit.Record
	poll.Until(t, 10*time.Second, func() error {
		recs = nil
		for _, r := range readAudit(t, filepath.Join(state, node.AuditLogName)) {
			if r.Method == "kv.put_all" {
				recs = append(recs, r)
			}
		}
		if len(recs) < 8 {
			return fmt.Errorf("the audit log holds %d kv.put_all records, want 8", len(recs))
		}
		return nil
	})
	if r := recs[0]; r.Key != "shared/a (and 1 more keys)" || r.Outcome != audit.OutcomeOK {
		t.Errorf("the first batch's record: %+v", r)
	}
	if r := recs[1]; r.Key != "private/x" || r.Outcome != audit.OutcomeDenied {
		t.Errorf("the denied batch's record: %+v", r)
	}
}

func keys(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return ks
}

// A kv.put_all whose reply is lost is retried with the same call id, over
// POST and over a stream: the retry is answered with the first result and
// the batch is written once.
func TestRetriedPutAllIsWrittenOnce(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home"})
	cafe := meshtest.Join(t, dn, mesh.Config{Hostname: "cafe"})
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			d := &replyDropper{dial: cafe.Dial}
			c := rpc.NewClient(rpc.ClientConfig{Addr: "home:4343", Dial: d.Dial, Stream: stream, Retries: 3})
			defer c.Close()
			prefix := fmt.Sprintf("b-%v/", stream)
			var res api.PutAllResult
			if err := c.Call(context.Background(), "kv.put_all", batch("1", keys(prefix, 100)...), &res); err != nil {
				t.Fatal(err)
			}
			if !d.dropped.Load() {
				t.Fatal("no reply was dropped: the test proves nothing")
			}
			var next api.RevResult
			if err := c.Call(context.Background(), "kv.put", api.PutParams{Key: "next", Value: json.RawMessage("1")}, &next); err != nil {
				t.Fatal(err)
			}
			if res.Written != 100 || next.Rev != res.Rev+1 {
				t.Fatalf("the retry answered %+v, and the next write got revision %d; want 100 written and %d (the batch written once)", res, next.Rev, res.Rev+1)
			}
		})
	}
}
