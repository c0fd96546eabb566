package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/meshrpc/meshrpc/store"
)

// BenchmarkWatchers measures a put's time, in memory and one at a time,
// while 0, 1, 100 and 1000 Watch calls wait on the prefix it writes under,
// each called again as soon as it returns: the store's part of what
// watchers cost a write (node's BenchmarkWatchers has the whole, over the
// tailnet). watched/s is how many Watch calls returned a change per second.
func BenchmarkWatchers(b *testing.B) {
	for _, n := range []int{0, 1, 100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			s, err := store.OpenInMemory()
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rev0, err := s.Put("w/x", json.RawMessage(`"v"`))
			if err != nil {
				b.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			var watched atomic.Int64
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					rev := rev0
					for ctx.Err() == nil {
						events, err := s.Watch(ctx, "w/", rev)
						if err != nil {
							b.Error(err)
							return
						}
						if len(events) > 0 {
							watched.Add(1)
							rev = events[len(events)-1].Rev
						}
					}
				})
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Put("w/x", json.RawMessage(`"v"`)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(watched.Load())/b.Elapsed().Seconds(), "watched/s")
			stop()
			wg.Wait()
		})
	}
}
