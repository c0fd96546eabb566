package store_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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

// BenchmarkPutLarge puts values of 64 KiB and 512 KiB (JSON strings, as a
// kv.put receives them) to one key, one at a time, durably: the store's
// share of a large kv.put (docs/benchmarks.md, "Value size").
func BenchmarkPutLarge(b *testing.B) {
	for _, size := range []int{64 << 10, 512 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s, err := store.Open(filepath.Join(b.TempDir(), "kv.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := []byte(`"` + strings.Repeat("v", size-2) + `"`)
			b.SetBytes(int64(size))
			b.ResetTimer()
			cpu := cpuTime()
			for i := range b.N { // each put for a request of its own, as kv.put's are
				if _, err := s.For(strconv.Itoa(i)).Put("blob", value); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system: on a
// shared machine, steadier than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
