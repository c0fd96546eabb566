package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/store"
	"github.com/meshrpc/meshrpc/store/storetest"
)

// storeFile writes a closed store of a few hundred keys.
func storeFile(t *testing.T) *storetest.File {
	t.Helper()
	return storetest.Write(t, filepath.Join(t.TempDir(), "kv.db"), storetest.Config{Keys: 300})
}

// Damage that only reading finds (a page's header or body) takes the store
// offline, not the process: every call then returns ErrOffline with the
// reason, and the full check at open refuses the file.
func TestDamagedPageTakesTheStoreOffline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(page []byte)
	}{
		{"page header", damageHeader},
		{"page body", damageBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := storeFile(t)
			path := f.Path
			f.Damage(t, f.PageOf(t, "k100"), tc.change)
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
			path := storeFile(t).Path
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
			return path
		}, "truncated"},
		{"meta pages", func(t *testing.T) string {
			path := storeFile(t).Path
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

// damageHeader overwrites a page's header (id, flags, count, overflow).
func damageHeader(page []byte) { copy(page[:16], bytes.Repeat([]byte{0xA5}, 16)) }

// damageBody overwrites the first 16 elements after a page's header:
// positions and lengths that point far beyond the file.
func damageBody(page []byte) { copy(page[16:16+256], bytes.Repeat([]byte{0xFF}, 256)) }
