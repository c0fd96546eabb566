package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	if _, err := s.Put("more", value); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("a write with the disk full: %v", err)
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
}
