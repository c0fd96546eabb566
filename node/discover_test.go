package node_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
)

// TestDiscoverPassesTheOpenRPCValidator checks a node's rpc.discover with the
// OpenRPC project's own validator (@open-rpc/schema-utils-js, installed by
// .ci/run into .ci/tools/openrpc). Without it the test skips, except in CI.
func TestDiscoverPassesTheOpenRPCValidator(t *testing.T) {
	validator := os.Getenv("MESHRPC_OPENRPC_VALIDATOR")
	if validator == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MESHRPC_OPENRPC_VALIDATOR is not set; .ci/run installs it")
		}
		t.Skip("set MESHRPC_OPENRPC_VALIDATOR to .ci/tools/openrpc/validate.js after `npm install` there")
	}
	dn := meshtest.Net(t, devnet.Config{})
	startNode(t, dn, node.Config{Hostname: "home", InMemory: true})
	c := dialAs(t, dn, "cafe")
	var doc json.RawMessage
	if err := c.Call(context.Background(), "home", "rpc.discover", nil, &doc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "openrpc.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("node", validator, path).CombinedOutput()
	if err != nil {
		t.Fatalf("the OpenRPC validator rejects rpc.discover's document: %v\n%s", err, out)
	}
}
