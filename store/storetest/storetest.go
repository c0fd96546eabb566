// Package storetest writes store files for tests and damages their pages
// as a bad disk sector or a stray write would, so that the store's and the
// CLI's tests of damaged files share one way of making them. It is for
// tests only.
package storetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshrpc/meshrpc/store"
)

// File is a closed store file that a test wrote, and what it holds.
type File struct {
	Path    string
	Entries map[string]store.Entry // by key, as written
}

// Config says what Write writes.
type Config struct {
	Keys       int            // "k000", "k001" and on
	ValueBytes int            // each value's length, about; default 200
	Options    *store.Options // for store.Open; nil: the defaults
}

// Write writes a store at path of c.Keys keys, each written once with a
// value of its own, then closes it.
func Write(t testing.TB, path string, c Config) *File {
	t.Helper()
	if c.ValueBytes <= 0 {
		c.ValueBytes = 200
	}
	s, err := store.Open(path, c.Options)
	if err != nil {
		t.Fatal(err)
	}
	f := &File{Path: path, Entries: map[string]store.Entry{}}
	for i := range c.Keys {
		key := fmt.Sprintf("k%03d", i)
		value := json.RawMessage(fmt.Sprintf("%q", fmt.Sprintf("%s-%03d", strings.Repeat("v", c.ValueBytes), i)))
		rev, err := s.Put(key, value)
		if err != nil {
			t.Fatal(err)
		}
		f.Entries[key] = store.Entry{Key: key, Value: value, Rev: rev}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// PageOf is the offset in the file of the page in use that holds key's
// entry among the store's keys (not a copy in its change log, nor a stale
// copy on a free page). Call it before damaging the file.
func (f *File) PageOf(t testing.TB, key string) int {
	t.Helper()
	e := f.Entries[key]
	// A key's record: the key, then its revision and the revision that
	// created it (both e.Rev: each key was written once), then the value.
	var revs [16]byte
	binary.BigEndian.PutUint64(revs[:], uint64(e.Rev))
	binary.BigEndian.PutUint64(revs[8:], uint64(e.Rev))
	needle := append([]byte(key), revs[:]...)
	b := f.read(t)
	for _, id := range f.pagesInUse(t, "leaf") {
		if bytes.Contains(b[id.off:id.end], needle) {
			return id.off
		}
	}
	t.Fatalf("no page in use holds %s's entry", key)
	return 0
}

// KeysOn are the keys whose entries the page at off holds, in order.
func (f *File) KeysOn(t testing.TB, off int) []string {
	t.Helper()
	var keys []string
	for k := range f.Entries {
		if f.PageOf(t, k) == off {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// BranchPage is the offset of the branch page in use over the pages of the
// store's keys.
func (f *File) BranchPage(t testing.TB) int {
	t.Helper()
	b := f.read(t)
	for _, id := range f.pagesInUse(t, "branch") {
		if bytes.Contains(b[id.off:id.end], []byte("k000")) {
			return id.off
		}
	}
	t.Fatal("no branch page over the keys")
	return 0
}

// Damage rewrites the file with change applied to the bytes of the page
// at off.
func (f *File) Damage(t testing.TB, off int, change func(page []byte)) {
	t.Helper()
	b := f.read(t)
	change(b[off : off+os.Getpagesize()])
	if err := os.WriteFile(f.Path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Garbage fills a page with bytes that are no page: a sector of noise.
func Garbage(page []byte) {
	for i := range page {
		page[i] = byte(i*7 + 0xA5)
	}
}

func (f *File) read(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type pageSpan struct{ off, end int }

// pagesInUse are the pages of type typ ("leaf", "branch") that are not
// free, as bbolt itself sees the (undamaged) file.
func (f *File) pagesInUse(t testing.TB, typ string) []pageSpan {
	t.Helper()
	db, err := bolt.Open(f.Path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	size := db.Info().PageSize
	var spans []pageSpan
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == typ {
				spans = append(spans, pageSpan{id * size, (id + 1 + info.OverflowCount) * size})
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return spans
}
