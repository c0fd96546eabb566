package store_test

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/meshrpc/meshrpc/store"
)

// Writes racing Close each end, acknowledged or refused with ErrClosed:
// none waits forever (a write could once be queued after the committer
// had stopped), every acknowledged write is in the file, and a refused one
// is not. Run it under -race: go test -race ./store -run TestWritesRacingCloseAllEnd
func TestWritesRacingCloseAllEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	var want int64
	for round := range rounds {
		s, err := store.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var acked atomic.Int64
		started := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					_, _, err := s.Inc("n", 1)
					if errors.Is(err, store.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("round %d: Inc: %v", round, err)
						return
					}
					if acked.Add(1) >= 16 {
						once.Do(func() { close(started) })
					}
				}
			})
		}
		<-started
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait() // hangs if a write waits forever
		want += acked.Load()

		s, err = store.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, ok, err := s.Get("n")
		s.Close()
		if err != nil || !ok || string(e.Value) != itoa(want) {
			t.Fatalf("round %d: n = %s (%v, %v), want the %d writes acknowledged", round, e.Value, ok, err, want)
		}
	}
}

// The same race, many more times: writers of an in-memory store (no
// fsync, so the rounds are quick) racing its Close.
func TestManyWritesRacingCloseAllEnd(t *testing.T) {
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	for range rounds {
		s, err := store.OpenInMemory()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		ready := make(chan struct{})
		for range 32 {
			wg.Go(func() {
				<-ready
				for {
					if _, err := s.Put("k", []byte("1")); err != nil {
						if !errors.Is(err, store.ErrClosed) {
							t.Errorf("Put: %v", err)
						}
						return
					}
				}
			})
		}
		close(ready)
		s.Close()
		wg.Wait() // hangs if a write waits forever
	}
}

func itoa(n int64) string {
	b := []byte{}
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
