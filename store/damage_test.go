package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/store"
)

const marker = "MARKER-7f3a"

// storeFile writes a closed store of a few hundred keys; key "k100" holds
// marker, so the pages that hold it can be found in the file.
func storeFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		v := fmt.Sprintf("%q", strings.Repeat("v", 200))
		if i == 100 {
			v = fmt.Sprintf("%q", marker)
		}
		if _, err := s.Put(fmt.Sprintf("k%03d", i), json.RawMessage(v)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	return path
}

// damage rewrites the file at path with change applied to the page of the
// kv bucket that holds the marker (its offset within the file given). The
// change log's page is spared: Open reads the whole log.
func damage(t *testing.T, path string, change func(b []byte, page int)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	size := os.Getpagesize()
	found := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(marker))
		if i < 0 {
			break
		}
		at := off + i
		page := at / size * size
		off = page + size
		if string(b[at-5:at-1]) == "k100" {
			continue // a change in the log: the key, then the value
		}
		change(b, page)
		found++
	}
	if found == 0 {
		t.Fatal("marker not found in the file")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Damage that only reading finds (a page's header or body) takes the store
// offline, not the process: every call then returns ErrOffline with the
// reason, and the full check at open refuses the file.
func TestDamagedPageTakesTheStoreOffline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(b []byte, page int)
	}{
		{"page header", func(b []byte, page int) {
			copy(b[page:page+16], bytes.Repeat([]byte{0xA5}, 16))
		}},
		{"page body", func(b []byte, page int) {
			// The elements after the header: positions and lengths that
			// point far beyond the file.
			copy(b[page+16:page+16+256], bytes.Repeat([]byte{0xFF}, 256))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := storeFile(t)
			damage(t, path, tc.change)
			s, err := store.Open(path, nil)
			if err != nil {
				t.Fatalf("quick open: %v", err) // only a full check reads every page
			}
			defer s.Close()
			if _, _, err := s.Get("k100"); !errors.Is(err, store.ErrOffline) || !strings.Contains(err.Error(), path) {
				t.Fatalf("get from the damaged page: %v", err)
			}
			if s.Fault() == nil {
				t.Fatal("no fault after damage was found")
			}
			if _, err := s.Put("new", json.RawMessage(`1`)); !errors.Is(err, store.ErrOffline) {
				t.Fatalf("put on an offline store: %v", err)
			}
			s.Close()
			_, err = store.Open(path, &store.Options{Check: true})
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore a backup") {
				t.Fatalf("full check at open: %v", err)
			}
		})
	}
}

// Damage found at open: the file is refused with an error that names it,
// the damage and what to do, and is left as it was.
func TestDamagedFilesAreRefusedAtOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"0 bytes", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "kv.db")
			os.WriteFile(path, nil, 0o600)
			return path
		}, "is empty (0 bytes)"},
		{"foreign", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "kv.db")
			os.WriteFile(path, []byte("these are my notes, not a database\n"), 0o600)
			return path
		}, "not a meshrpc data file"},
		{"truncated", func(t *testing.T) string {
			path := storeFile(t)
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
			return path
		}, "truncated"},
		{"meta pages", func(t *testing.T) string {
			path := storeFile(t)
			b, _ := os.ReadFile(path)
			size := os.Getpagesize()
			for _, off := range []int{32, size + 32} { // after each magic and version
				copy(b[off:off+32], bytes.Repeat([]byte{0xA5}, 32))
			}
			os.WriteFile(path, b, 0o600)
			return path
		}, "bbolt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.make(t)
			before, _ := os.ReadFile(path)
			s, err := store.Open(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("open: %v\nwant ErrDamaged naming %s and %q", err, path, tc.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Fatal("the refused file was modified")
			}
		})
	}
}

// A 0-byte file becomes a store when Open is told to make one.
func TestInitEmptyMakesAStoreInAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	os.WriteFile(path, nil, 0o600)
	s, err := store.Open(path, &store.Options{InitEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put("a", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
}
