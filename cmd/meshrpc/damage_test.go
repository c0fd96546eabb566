package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/store"
	"github.com/meshrpc/meshrpc/store/storetest"
)

// damagedStore writes a store of a few hundred keys at path and applies
// change (if any) to the page that holds k100.
func damagedStore(t *testing.T, path string, change func(page []byte)) *storetest.File {
	t.Helper()
	f := storetest.Write(t, path, storetest.Config{Keys: 300})
	if change != nil {
		f.Damage(t, f.PageOf(t, "k100"), change)
	}
	return f
}

// damageHeader overwrites a page's header; damageBody the first 16
// elements after it: positions and lengths far beyond the file.
func damageHeader(page []byte) { copy(page[:16], bytes.Repeat([]byte{0xA5}, 16)) }
func damageBody(page []byte)   { copy(page[16:272], bytes.Repeat([]byte{0xFF}, 256)) }

// A data file damaged in a way Open sees stops `meshrpc serve` before it
// joins the tailnet, with exit status 1 and an error naming the file, the
// damage and what to do.
func TestServeRefusesADamagedDataFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(path string)
		extra []string
		want  string
	}{
		{"0 bytes", func(path string) { os.WriteFile(path, nil, 0o600) }, nil, "is empty (0 bytes)"},
		{"foreign", func(path string) { os.WriteFile(path, []byte("my notes\n"), 0o600) }, nil, "not a meshrpc data file"},
		{"truncated", func(path string) {
			damagedStore(t, path, nil)
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		}, nil, "truncated"},
		{"meta pages", func(path string) {
			damagedStore(t, path, nil)
			b, _ := os.ReadFile(path)
			for _, off := range []int{32, os.Getpagesize() + 32} {
				copy(b[off:off+32], bytes.Repeat([]byte{0xA5}, 32))
			}
			os.WriteFile(path, b, 0o600)
		}, nil, "bbolt"},
		{"page header, full check", func(path string) {
			damagedStore(t, path, damageHeader)
		}, []string{"--check-store"}, "restore a backup"},
		{"page body, full check", func(path string) {
			damagedStore(t, path, damageBody)
		}, []string{"--check-store"}, "restore a backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "kv.db")
			tc.make(data)
			args := append([]string{"--state-dir", filepath.Join(dir, "s"), "serve", "--data", data}, tc.extra...)
			r := run(t, "http://127.0.0.1:1", args...)
			if r.code != 1 || !strings.Contains(r.stderr, data) || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("serve: %+v\nwant exit 1 and an error naming %s and %q", r, data, tc.want)
			}
		})
	}
	// Told to, serve makes a store in an empty file.
	dir := t.TempDir()
	data := filepath.Join(dir, "kv.db")
	os.WriteFile(data, nil, 0o600)
	dn := meshtest.Net(t, devnet.Config{})
	serveHome(t, dn.ControlURL(), filepath.Join(dir, "home"), "--data", data, "--init-store")
	if r := run(t, dn.ControlURL(), "--state-dir", filepath.Join(dir, "home"), "kv", "put", "home", "a", "1"); r.code != 0 {
		t.Fatalf("kv put after --init-store: %+v", r)
	}
}

// Damage found while serving (a page's header or body, which only a full
// check reads at start) takes the store offline and not the process:
// kv.* answer -32005 (unavailable) with the reason, everything else
// keeps serving, and sys.info and `meshrpc status` say why.
func TestServeKeepsServingWithADamagedStore(t *testing.T) {
	// One devnet: each case's home, from a new state dir, retires the last.
	dn := meshtest.Net(t, devnet.Config{})
	for _, tc := range []struct {
		name   string
		change func(page []byte)
	}{
		{"page header", damageHeader},
		{"page body", damageBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data, state := filepath.Join(dir, "kv.db"), filepath.Join(dir, "home")
			damagedStore(t, data, tc.change)
			serveHome(t, dn.ControlURL(), state, "--data", data)
			logsOnFailure(t, state)
			cli := func(args ...string) result {
				return run(t, dn.ControlURL(), append([]string{"--state-dir", state}, args...)...)
			}
			if r := cli("kv", "get", "home", "k001"); r.code != 0 {
				t.Fatalf("kv get of an undamaged page: %+v", r)
			}
			for _, args := range [][]string{{"kv", "get", "home", "k100"}, {"kv", "put", "home", "k001", "2"}} {
				if r := cli(args...); r.code != 3 || !strings.Contains(r.stderr, "offline") || !strings.Contains(r.stderr, "code -32005") || !strings.Contains(r.stderr, data) {
					t.Fatalf("%v on a damaged store: %+v\nwant exit 1, code -32005 and the reason", args, r)
				}
			}
			if r := cli("call", "home", "sys.ping"); r.code != 0 {
				t.Fatalf("sys.ping with the store offline: %+v", r)
			}
			r := cli("call", "home", "sys.info", "--json")
			var info struct {
				StoreOffline string `json:"store_offline"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &info) != nil || !strings.Contains(info.StoreOffline, data) {
				t.Fatalf("sys.info: %+v", r)
			}
			if r := cli("status"); r.code != 0 || !strings.Contains(r.stdout, "store:") || !strings.Contains(r.stdout, "offline") {
				t.Fatalf("status: %+v", r)
			}
		})
	}
}

// `meshrpc store check --repair` copies the readable keys of a file with a
// destroyed page into FILE.repaired, leaves the file as it was, and says
// what it saved and lost and how to put the new file in place; restored,
// the node serves it.
func TestStoreCheckRepairSalvagesADamagedFile(t *testing.T) {
	dir := t.TempDir()
	data, state := filepath.Join(dir, "kv.db"), filepath.Join(dir, "home")
	// A short change log (k236 to k299 or so), so k100's page is lost.
	f := storetest.Write(t, data, storetest.Config{Keys: 300, Options: &store.Options{MaxLog: 64}})
	page := f.PageOf(t, "k100")
	lost := f.KeysOn(t, page)
	f.Damage(t, page, storetest.Garbage)
	damaged, _ := os.ReadFile(data)
	cli := func(controlURL string, args ...string) result {
		return run(t, controlURL, append([]string{"--state-dir", state}, args...)...)
	}

	if r := cli("http://127.0.0.1:1", "store", "check", data); r.code != 1 || !strings.Contains(r.stderr, "damaged") || !strings.Contains(r.stderr, "store check --repair "+data) {
		t.Fatalf("check: %+v", r)
	}
	r := cli("http://127.0.0.1:1", "store", "check", "--repair", data)
	saved := fmt.Sprintf("saved %d keys into %s.repaired\n", 300-len(lost), data)
	if r.code != 0 || !strings.Contains(r.stdout, saved) || !strings.Contains(r.stdout, "lost 0 keys on damaged pages; 1 pages could not be read at all, and their keys are lost with them") ||
		!strings.Contains(r.stdout, "meshrpc store restore "+data+".repaired "+data) {
		t.Fatalf("check --repair: %+v\nwant %q", r, saved)
	}
	if after, _ := os.ReadFile(data); !bytes.Equal(after, damaged) {
		t.Fatal("the damaged file was modified")
	}
	if r := cli("http://127.0.0.1:1", "store", "restore", data+".repaired", data); r.code != 0 {
		t.Fatalf("restore: %+v", r)
	}
	if old, _ := os.ReadFile(data + ".old"); !bytes.Equal(old, damaged) {
		t.Fatal("the damaged file was not kept as .old")
	}
	var check struct {
		Sound    bool            `json:"sound"`
		Repaired json.RawMessage `json:"repaired"`
	}
	if r := cli("http://127.0.0.1:1", "store", "check", "--repair", "--json", data); r.code != 0 || json.Unmarshal([]byte(r.stdout), &check) != nil || !check.Sound || check.Repaired != nil {
		t.Fatalf("check --repair --json of the restored file: %+v", r)
	}

	dn := meshtest.Net(t, devnet.Config{})
	serveHome(t, dn.ControlURL(), state, "--data", data, "--check-store")
	logsOnFailure(t, state)
	for _, key := range []string{"k000", lost[0], "k299"} {
		r := cli(dn.ControlURL(), "kv", "get", "home", key, "--json")
		want := string(f.Entries[key].Value)
		if key == lost[0] {
			want = "null"
		}
		if r.code != 0 || strings.TrimSpace(r.stdout) != want {
			t.Fatalf("kv get %s from the repaired store: %+v, want %s", key, r, want)
		}
	}
	if r := cli(dn.ControlURL(), "kv", "put", "home", lost[0], "1"); r.code != 0 {
		t.Fatalf("kv put on the repaired store: %+v", r)
	}
}
