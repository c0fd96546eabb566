package store_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshrpc/meshrpc/store"
)

// smallDisk mounts a tmpfs of size bytes for the test, as root; without
// root it skips, unless CI is set (CI runs as root and must run it).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("mounting a small file system (tmpfs) needs root; run as root, or set CI to make this a failure")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs: %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// On a file system of 8 MiB, the store's writes stop short of the last
// 1 MiB (ErrDiskFull); then another program fills the disk to its last
// byte. The owner's deletes still commit (the store gives up its reserve
// file), the store stays online, the room they free inside the data file
// takes new writes, and after a reopen every acknowledged write is there.
func TestDeletesWorkWhenTheDiskIsFull(t *testing.T) {
	dir := smallDisk(t, "8m")
	path := filepath.Join(dir, "kv.db")
	s, err := store.Open(path, &store.Options{Reserve: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if _, err := os.Stat(path + ".reserve"); err != nil {
		t.Fatalf("no reserve file: %v", err)
	}
	value, _ := json.Marshal(strings.Repeat("v", 100<<10))
	var keys []string
	for i := 0; ; i++ {
		key := fmt.Sprintf("k%03d", i)
		_, err := s.Put(key, value)
		if errors.Is(err, store.ErrDiskFull) {
			break
		}
		if err != nil || i > 80 {
			t.Fatalf("put %d: %v", i, err)
		}
		keys = append(keys, key)
	}
	if len(keys) < 5 {
		t.Fatalf("only %d writes of 100 KiB fit on 8 MiB", len(keys))
	}
	// Another program takes the rest.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err = filler.Write(make([]byte, 64<<10)); err == nil; _, err = filler.Write(make([]byte, 4<<10)) {
	}
	filler.Close()
	// Writes that fit in the pages the data file has free need no disk and
	// commit; then the full disk refuses them.
	var more []string
	for i := 0; ; i++ {
		key := fmt.Sprintf("more%02d", i)
		_, err := s.Put(key, value)
		if errors.Is(err, store.ErrDiskFull) {
			break
		}
		if err != nil || i > 40 {
			t.Fatalf("a write with the disk full: %v", err)
		}
		more = append(more, key)
	}

	for _, k := range keys[:len(keys)/2] {
		if _, existed, err := s.Delete(k); err != nil || !existed {
			t.Fatalf("delete %s with the disk full: %v, %v", k, existed, err)
		}
	}
	if err := s.Fault(); err != nil {
		t.Fatalf("the store went offline: %v", err)
	}
	if _, err := s.Put("after", value); err != nil {
		t.Fatalf("a write into the room the deletes made: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "filler"))
	if s, err = store.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	for i, k := range append(keys, "after") {
		_, ok, err := s.Get(k)
		if want := i >= len(keys)/2; ok != want || err != nil {
			t.Fatalf("after reopening, %s present %v, want %v (%v)", k, ok, want, err)
		}
	}
	for _, k := range more {
		if _, ok, err := s.Get(k); !ok || err != nil {
			t.Fatalf("after reopening, %s (written with the disk full) is missing: %v", k, err)
		}
	}
}

// fillDisk writes a file in dir until the file system has no room left:
// another program taking the disk.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()
	for _, err = filler.Write(make([]byte, 64<<10)); err == nil; _, err = filler.Write(make([]byte, 4<<10)) {
	}
	for _, err = filler.Write(make([]byte, 512)); err == nil; _, err = filler.Write(make([]byte, 512)) {
	}
}

// With no reserve, writers fill an 8 MiB file system until bbolt's own
// commits fail for want of space. That is not damage: each write that
// did not fit is refused with ErrDiskFull (-32007 at a node), the store
// stays online and serves reads, and once there is room again it takes
// writes; after a reopen every acknowledged write is there, none lost.
func TestAFullDiskRefusesWritesAndServesOn(t *testing.T) {
	dir := smallDisk(t, "8m")
	path := filepath.Join(dir, "kv.db")
	s, err := store.Open(path, &store.Options{Reserve: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	spare := filepath.Join(dir, "spare")
	if err := os.WriteFile(spare, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}

	// Writers at once, so that failing commits hold several writes.
	value, _ := json.Marshal(strings.Repeat("v", 30<<10))
	var mu sync.Mutex
	acked := map[string]bool{}
	refused := 0
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 400; i++ {
				key := fmt.Sprintf("w%d/%03d", w, i)
				_, err := s.Put(key, value)
				mu.Lock()
				if err == nil {
					acked[key] = true
				} else if errors.Is(err, store.ErrDiskFull) {
					refused++
				} else {
					t.Errorf("put %s: %v, want success or ErrDiskFull", key, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if refused != 4 || len(acked) < 50 {
		t.Fatalf("%d writes acknowledged, %d refused for a full disk (want 4: one per writer)", len(acked), refused)
	}
	if err := s.Fault(); err != nil {
		t.Fatalf("a full disk took the store offline: %v", err)
	}
	for key := range acked {
		if e, ok, err := s.Get(key); !ok || err != nil || string(e.Value) != string(value) {
			t.Fatalf("read %s with the disk full: %v, %v", key, ok, err)
		}
	}

	os.Remove(spare) // room again
	if _, err := s.Put("after", value); err != nil {
		t.Fatalf("a write once there is room again: %v", err)
	}
	acked["after"] = true
	if _, existed, err := s.Delete("w0/000"); err != nil || !existed {
		t.Fatalf("a delete: %v, %v", existed, err)
	}
	delete(acked, "w0/000")

	s.Close()
	if s, err = store.Open(path, &store.Options{Reserve: -1}); err != nil {
		t.Fatal(err)
	}
	all, err := s.List("", 0)
	if err != nil || len(all) != len(acked) {
		t.Fatalf("after reopening: %d keys (%v), want the %d acknowledged", len(all), err, len(acked))
	}
	for _, e := range all {
		if !acked[e.Key] || string(e.Value) != string(value) {
			t.Fatalf("after reopening: %s, not as acknowledged", e.Key)
		}
	}
}

// deletesOnAFullDisk makes a store of keys of 1000 bytes whose file has no
// free pages (a compacted copy, as a salvaged store is), opens it on a
// small file system with the reserve given, lets another program fill
// the disk to its last byte, then deletes the keys one by one. It returns
// how many deletes committed before the first that failed (all: none
// failed), and that failure; the store stays online either way, and the
// delete that failed commits once there is room.
func deletesOnAFullDisk(t *testing.T, reserve int64) (int, int, error) {
	src := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 200 {
		key := fmt.Sprintf("%04d/%s", i, strings.Repeat("k", 995))
		if _, err := s.Put(key, json.RawMessage("1")); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	s.Close()
	dir := smallDisk(t, "8m")
	path := filepath.Join(dir, "kv.db")
	compact(t, src, path)
	if s, err = store.Open(path, &store.Options{Reserve: reserve}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillDisk(t, dir)
	// One key in four first: pages of the key bucket stay too full to
	// merge, so the deletes free no page while their changes fill the log.
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(key4(a), key4(b)) })
	for i, k := range keys {
		if _, _, err := s.Delete(k); err != nil {
			if f := s.Fault(); f != nil {
				t.Fatalf("the store went offline: %v", f)
			}
			os.Remove(filepath.Join(dir, "filler"))
			if _, existed, err := s.Delete(k); err != nil || !existed {
				t.Fatalf("the delete once there is room: %v, %v", existed, err)
			}
			return i, len(keys), err
		}
	}
	return len(keys), len(keys), nil
}

// compact copies the bbolt file src to dst with bbolt's Compact: a file
// with every page in use.
func compact(t *testing.T, src, dst string) {
	t.Helper()
	from, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := bolt.Open(dst, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	if err := bolt.Compact(to, from, 0); err != nil {
		t.Fatal(err)
	}
}

// key4 is a deletesOnAFullDisk key's number modulo 4.
func key4(key string) int {
	var n int
	fmt.Sscanf(key, "%d/", &n)
	return n % 4
}

// The reserve file is what lets deletes commit on a disk that another
// program filled to the last byte when the data file has no free pages to
// write them into: without it they fail (for a full disk, the store
// online); with it, every one commits.
func TestTheReserveFileLetsDeletesCommit(t *testing.T) {
	n, all, err := deletesOnAFullDisk(t, -1)
	if err == nil || !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("without a reserve, %d of %d deletes committed on a full disk (%v); want a refusal for a full disk", n, all, err)
	}
	t.Logf("without a reserve: %d of %d deletes committed, then: %v", n, all, err)
	if n, all, err := deletesOnAFullDisk(t, 1<<20); err != nil {
		t.Fatalf("with a reserve of 1 MiB, %d of %d deletes committed on a full disk, then: %v", n, all, err)
	}
}
