package store_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/meshrpc/meshrpc/store"
	"github.com/meshrpc/meshrpc/store/storetest"
)

// Salvage saves every key of a damaged store but those on its destroyed
// pages, exactly (value and revision), into a new file that checks sound,
// opens and takes writes, and says how many it saved and lost; the
// damaged file is left as it was.
func TestSalvageSavesEveryReadableKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage damages f and returns the keys it destroys, and how many
		// of them the change log gives back.
		damage      func(t *testing.T, f *storetest.File) (lost []string, fromLog int)
		unreadable  int
		guessed     bool
		inexactLost bool // lost keys not known in advance
	}{
		{"page header", func(t *testing.T, f *storetest.File) ([]string, int) {
			f.Damage(t, f.PageOf(t, "k100"), damageHeader) // read from its elements
			return nil, 0
		}, 0, false, false},
		{"page body", func(t *testing.T, f *storetest.File) ([]string, int) {
			page := f.PageOf(t, "k100")
			keys := f.KeysOn(t, page)
			f.Damage(t, page, damageBody) // the first 16 elements
			return keys[:min(16, len(keys))], 0
		}, 0, false, false},
		{"two pages of noise", func(t *testing.T, f *storetest.File) ([]string, int) {
			a, b := f.PageOf(t, "k100"), f.PageOf(t, "k150")
			lost := append(f.KeysOn(t, a), f.KeysOn(t, b)...)
			f.Damage(t, a, storetest.Garbage)
			f.Damage(t, b, storetest.Garbage)
			return lost, 0
		}, 2, false, false},
		{"the branch page over the keys", func(t *testing.T, f *storetest.File) ([]string, int) {
			f.Damage(t, f.BranchPage(t), storetest.Garbage) // its pages found anyway
			return nil, 0
		}, 0, false, false},
		{"a page whose keys the change log holds", func(t *testing.T, f *storetest.File) ([]string, int) {
			page := f.PageOf(t, "k299")
			keys := f.KeysOn(t, page)
			f.Damage(t, page, storetest.Garbage)
			return nil, len(keys)
		}, 1, false, false},
		{"both meta pages", func(t *testing.T, f *storetest.File) ([]string, int) {
			for _, off := range []int{0, os.Getpagesize()} {
				f.Damage(t, off, func(p []byte) { copy(p[32:64], bytes.Repeat([]byte{0xA5}, 32)) })
			}
			return nil, 0
		}, 0, true, false},
		{"truncated", func(t *testing.T, f *storetest.File) ([]string, int) {
			fi, _ := os.Stat(f.Path)
			os.Truncate(f.Path, fi.Size()/2)
			return nil, 0
		}, -1, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The change log keeps the last 64 changes or so: k236 to k299.
			f := storetest.Write(t, filepath.Join(t.TempDir(), "kv.db"), storetest.Config{Keys: 300, Options: &store.Options{MaxLog: 64}})
			lost, fromLog := tc.damage(t, f)
			damaged, _ := os.ReadFile(f.Path)

			info, err := store.Salvage(f.Path, "")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", info)
			if after, _ := os.ReadFile(f.Path); !bytes.Equal(after, damaged) {
				t.Fatal("the damaged file was modified")
			}
			want := store.SalvageInfo{Path: f.Path + ".repaired", Keys: 300 - len(lost), FromLog: fromLog, Lost: len(lost), UnreadablePages: tc.unreadable, Rev: 300, Guessed: tc.guessed}
			if tc.name == "two pages of noise" {
				want.Lost = 0 // their keys are unknown: counted as pages
			}
			got := info
			got.Damage = nil
			if tc.inexactLost {
				want.Keys, want.FromLog, want.Lost, want.UnreadablePages, want.Rev = got.Keys, got.FromLog, got.Lost, got.UnreadablePages, got.Rev
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("salvage:\n got %+v\nwant %+v", info, want)
			}
			if len(info.Damage) == 0 || tc.inexactLost && info.Keys == 0 {
				t.Fatalf("damage found: %q", info.Damage)
			}

			s, err := store.Open(info.Path, &store.Options{Check: true})
			if err != nil {
				t.Fatalf("open the salvaged file: %v", err)
			}
			defer s.Close()
			saved := 0
			for key, e := range f.Entries {
				got, ok, err := s.Get(key)
				switch {
				case err != nil:
					t.Fatal(err)
				case slices.Contains(lost, key) && ok:
					t.Fatalf("%s was on a destroyed page, yet saved: %+v", key, got)
				case !ok && !tc.inexactLost && !slices.Contains(lost, key):
					t.Fatalf("%s lost", key)
				case ok && (string(got.Value) != string(e.Value) || got.Rev != e.Rev):
					t.Fatalf("%s saved as %s at %d, was %s at %d", key, got.Value, got.Rev, e.Value, e.Rev)
				case ok:
					saved++
				}
			}
			if saved != info.Keys {
				t.Fatalf("%d keys saved, the salvage says %d", saved, info.Keys)
			}
			if rev, err := s.Put("new", json.RawMessage(`1`)); err != nil || rev != info.Rev+1 {
				t.Fatalf("put on the salvaged store: rev %d, %v", rev, err)
			}
		})
	}
}

// Salvage refuses what it cannot work on, and never replaces a file.
func TestSalvageRefuses(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	if _, err := store.Salvage(empty, ""); err == nil || !strings.Contains(err.Error(), "nothing to salvage") {
		t.Fatalf("salvage of a 0-byte file: %v", err)
	}
	foreign := filepath.Join(dir, "notes.txt")
	os.WriteFile(foreign, bytes.Repeat([]byte("my notes\n"), 2000), 0o600)
	if _, err := store.Salvage(foreign, ""); err == nil || !strings.Contains(err.Error(), "found no key") {
		t.Fatalf("salvage of a foreign file: %v", err)
	}
	if _, err := os.Stat(foreign + ".repaired"); err == nil {
		t.Fatal("a failed salvage left a file")
	}
	f := storetest.Write(t, filepath.Join(dir, "kv.db"), storetest.Config{Keys: 10})
	if _, err := store.Salvage(f.Path, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Salvage(f.Path, ""); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("salvage over an existing file: %v", err)
	}
	s, err := store.Open(f.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := store.Salvage(f.Path, filepath.Join(dir, "other.db")); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("salvage of a file in use: %v", err)
	}
}

// Whatever pages are destroyed (meta pages, the freelist, branches, leaves,
// overflow pages, the change log's), Salvage neither panics nor saves a key other than as
// it was written (each key was written once, so even a free page's stale
// copy holds its one value).
func TestSalvageOfRandomDamageSavesOnlyExactKeys(t *testing.T) {
	damages := []func([]byte){storetest.Garbage, damageHeader, damageBody, func(p []byte) { clear(p) }}
	for seed := range 10 {
		rnd := rand.New(rand.NewPCG(uint64(seed), 1))
		c := storetest.Config{Keys: 300, Options: &store.Options{MaxLog: 64}}
		if seed%2 == 1 { // values that span pages (bbolt's overflow pages)
			c.Keys, c.ValueBytes = 60, 6000
		}
		f := storetest.Write(t, filepath.Join(t.TempDir(), "kv.db"), c)
		fi, _ := os.Stat(f.Path)
		pages := int(fi.Size()) / os.Getpagesize()
		for range 1 + rnd.IntN(5) {
			f.Damage(t, rnd.IntN(pages)*os.Getpagesize(), damages[rnd.IntN(len(damages))])
		}
		info, err := store.Salvage(f.Path, "")
		if err != nil {
			t.Logf("seed %d: %v", seed, err) // nothing found at all is an answer
			continue
		}
		s, err := store.Open(info.Path, nil)
		if err != nil {
			t.Fatalf("seed %d: open the salvaged file: %v", seed, err)
		}
		n := 0
		err = s.Range("", "", func(e store.Entry) bool {
			n++
			if w := f.Entries[e.Key]; string(w.Value) != string(e.Value) || w.Rev != e.Rev {
				t.Errorf("seed %d: %s saved as %s at %d, was %s at %d", seed, e.Key, e.Value, e.Rev, w.Value, w.Rev)
			}
			return true
		})
		s.Close()
		if err != nil || n != info.Keys {
			t.Fatalf("seed %d: %d keys in the salvaged file, the salvage says %d: %v", seed, n, info.Keys, err)
		}
	}
}

// BenchmarkSalvage salvages a store of 100,000 keys (values of about 210
// bytes: a 50 MB file) with two pages destroyed. Report ns/op.
func BenchmarkSalvage(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "kv.db")
	s, err := store.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	const keys, writers = 100000, 64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < keys; i += writers {
				v := json.RawMessage(fmt.Sprintf("%q", fmt.Sprintf("%s-%06d", strings.Repeat("v", 200), i)))
				if _, err := s.Put(fmt.Sprintf("k%06d", i), v); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.Close()
	f := &storetest.File{Path: path}
	f.Damage(b, 40*os.Getpagesize(), storetest.Garbage)
	f.Damage(b, 400*os.Getpagesize(), storetest.Garbage)
	for i := 0; b.Loop(); i++ {
		info, err := store.Salvage(path, filepath.Join(dir, fmt.Sprintf("repaired-%d.db", i)))
		if err != nil || info.Keys < keys-100 {
			b.Fatalf("%+v: %v", info, err)
		}
		os.Remove(info.Path)
	}
}

// Large values, which the change log keeps apart from its changes, are
// given back from the log when the page of their keys is destroyed.
func TestSalvageGivesBackLargeValuesFromTheLog(t *testing.T) {
	f := storetest.Write(t, filepath.Join(t.TempDir(), "kv.db"), storetest.Config{Keys: 40, ValueBytes: 6000, Options: &store.Options{MaxLog: 64}})
	page := f.PageOf(t, "k020")
	keys := f.KeysOn(t, page)
	f.Damage(t, page, storetest.Garbage)
	info, err := store.Salvage(f.Path, "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Keys != 40 || info.FromLog != len(keys) || info.Lost != 0 {
		t.Fatalf("salvage: %+v; want 40 keys, %d of them from the log", info, len(keys))
	}
	s, err := store.Open(info.Path, &store.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for key, e := range f.Entries {
		if got, ok, err := s.Get(key); err != nil || !ok || string(got.Value) != string(e.Value) || got.Rev != e.Rev {
			t.Fatalf("%s saved as %.20s at %d (%v %v), was %.20s at %d", key, got.Value, got.Rev, ok, err, e.Value, e.Rev)
		}
	}
}
