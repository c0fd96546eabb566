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
)

const damageMarker = "MARKER-7f3a"

// damagedStore writes a store of a few hundred keys at path (k100 holds a
// marker) and applies change to the kv bucket's page that holds k100.
func damagedStore(t *testing.T, path string, change func(b []byte, page int)) {
	t.Helper()
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		v := fmt.Sprintf("%q", strings.Repeat("v", 200))
		if i == 100 {
			v = fmt.Sprintf("%q", damageMarker)
		}
		if _, err := s.Put(fmt.Sprintf("k%03d", i), json.RawMessage(v)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if change == nil {
		return
	}
	b, _ := os.ReadFile(path)
	size := os.Getpagesize()
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(damageMarker))
		if i < 0 {
			break
		}
		at := off + i
		page := at / size * size
		off = page + size
		if string(b[at-5:at-1]) != "k100" { // not the change log's copy
			change(b, page)
		}
	}
	os.WriteFile(path, b, 0o600)
}

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
			damagedStore(t, path, func(b []byte, page int) { copy(b[page:page+16], bytes.Repeat([]byte{0xA5}, 16)) })
		}, []string{"--check-store"}, "restore a backup"},
		{"page body, full check", func(path string) {
			damagedStore(t, path, func(b []byte, page int) { copy(b[page+16:page+272], bytes.Repeat([]byte{0xFF}, 256)) })
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
	for _, tc := range []struct {
		name   string
		change func(b []byte, page int)
	}{
		{"page header", func(b []byte, page int) { copy(b[page:page+16], bytes.Repeat([]byte{0xA5}, 16)) }},
		{"page body", func(b []byte, page int) { copy(b[page+16:page+272], bytes.Repeat([]byte{0xFF}, 256)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A devnet each: two nodes named home on one would be ambiguous.
			dn := meshtest.Net(t, devnet.Config{})
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
