package store_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/meshrpc/meshrpc/store"
)

// BenchmarkInc measures increments per second with 1, 8 and 64 concurrent
// writers, durable (fsync per commit) and in memory. Report ops/s.
func BenchmarkInc(b *testing.B) {
	for _, mode := range []string{"durable", "memory"} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode, writers), func(b *testing.B) {
				var s *store.Store
				var err error
				if mode == "durable" {
					s, err = store.Open(filepath.Join(b.TempDir(), "kv.db"), nil)
				} else {
					s, err = store.OpenInMemory()
				}
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.ResetTimer()
				var wg sync.WaitGroup
				per := b.N / writers
				for w := range writers {
					n := per
					if w == 0 {
						n += b.N % writers
					}
					wg.Go(func() {
						for range n {
							if _, _, err := s.Inc("counter", 1); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "incs/s")
			})
		}
	}
}
