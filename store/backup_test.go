package store_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/meshrpc/meshrpc/store"
)

// A backup taken while writers go at full speed opens, checks clean, and
// holds every write acknowledged before it started.
func TestBackupUnderLoad(t *testing.T) {
	s, _ := openTemp(t)
	const writers = 8
	var acked [writers]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for n := int64(1); ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Put(fmt.Sprintf("w%d", i), json.RawMessage(strconv.FormatInt(n, 10))); err != nil {
					t.Error(err)
					return
				}
				acked[i].Store(n)
			}
		})
	}
	// Let every writer get some writes in before the backup.
	for i := range writers {
		for acked[i].Load() < 10 {
			if t.Failed() {
				t.FailNow()
			}
			s.Watch(t.Context(), "", s.Rev()) // wait for the next commit
		}
	}
	var before [writers]int64
	for i := range writers {
		before[i] = acked[i].Load()
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	info, err := s.Backup(backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Check(backup); err != nil {
		t.Fatalf("check of the backup: %v", err)
	}
	b, err := store.Open(backup, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Rev() != info.Rev {
		t.Errorf("backup at revision %d, Backup said %d", b.Rev(), info.Rev)
	}
	for i := range writers {
		e, ok, err := b.Get(fmt.Sprintf("w%d", i))
		n, _ := strconv.ParseInt(string(e.Value), 10, 64)
		if !ok || err != nil || n < before[i] {
			t.Errorf("w%d in the backup: %s (%v, %v); %d was acknowledged before the backup", i, e.Value, ok, err, before[i])
		}
	}
}

// Restore checks the backup, keeps the file it replaces as FILE.old, and
// refuses a damaged backup or a file a store holds open.
func TestRestore(t *testing.T) {
	s, path := openTemp(t)
	s.Put("a", json.RawMessage(`1`))
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := s.Backup(backup); err != nil {
		t.Fatal(err)
	}
	if err := store.Restore(backup, path); err == nil {
		t.Fatal("restored over a store in use")
	}
	s.Close()
	os.WriteFile(path, []byte("damaged"), 0o600)
	if err := store.Restore(backup, path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".old"); string(b) != "damaged" {
		t.Fatalf("the replaced file was not kept: %q", b)
	}
	r, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if e, ok, _ := r.Get("a"); !ok || string(e.Value) != "1" {
		t.Fatalf("restored store: %+v %v", e, ok)
	}
	os.WriteFile(backup, nil, 0o600)
	if err := store.Restore(backup, filepath.Join(t.TempDir(), "x.db")); err == nil {
		t.Fatal("restored an empty backup")
	}
}
