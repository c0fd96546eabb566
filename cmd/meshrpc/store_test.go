package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

// meshrpc store backup copies a serving node's store through its socket;
// the copy checks sound and restores over a damaged file.
func TestStoreBackupCheckRestore(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := t.TempDir()
	state := filepath.Join(dir, "home")
	serveHome(t, dn.ControlURL(), state)
	logsOnFailure(t, state)
	cli := func(args ...string) result {
		return run(t, dn.ControlURL(), append([]string{"--state-dir", state}, args...)...)
	}
	if r := cli("kv", "put", "home", "a", "42"); r.code != 0 {
		t.Fatalf("put: %+v", r)
	}
	backup := filepath.Join(dir, "backup.db")
	if r := cli("store", "backup", backup); r.code != 0 || !strings.Contains(r.stdout, "backed up to "+backup) {
		t.Fatalf("backup: %+v", r)
	}
	if r := cli("store", "check", backup); r.code != 0 || r.stdout != backup+": sound\n" {
		t.Fatalf("check: %+v", r)
	}
	if r := cli("store", "restore", backup, filepath.Join(state, "kv.db")); r.code == 0 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("restore over a served file: %+v", r)
	}
	damaged := filepath.Join(dir, "damaged.db")
	os.WriteFile(damaged, []byte("not a store"), 0o600)
	if r := cli("store", "check", damaged); r.code != 1 || !strings.Contains(r.stderr, "not a meshrpc data file") {
		t.Fatalf("check of a damaged file: %+v", r)
	}
	if r := cli("store", "restore", backup, damaged); r.code != 0 {
		t.Fatalf("restore: %+v", r)
	}
	if r := cli("store", "check", damaged); r.code != 0 {
		t.Fatalf("check after restore: %+v", r)
	}
}
