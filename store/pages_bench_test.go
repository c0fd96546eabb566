package store

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkPutLargePages is what a large put makes bbolt write: the bytes
// of the pages its commits allocate (and so write and fsync), per put and
// as a multiple of the value. The key's record holds the value once and
// its change in the log once more, but the log's last leaf is rewritten
// whole by every commit that appends to it, and bbolt splits a leaf only
// beyond four entries: with large values it holds two to four of them.
func BenchmarkPutLargePages(b *testing.B) {
	for _, size := range []int{64 << 10, 512 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "kv.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := []byte(`"` + strings.Repeat("v", size-2) + `"`)
			for i := range 8 { // past the log's first splits
				s.For("warm"+strconv.Itoa(i)).Put("blob", value)
			}
			before := s.db.Stats().TxStats
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.For(strconv.Itoa(i)).Put("blob", value); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := s.db.Stats().TxStats
			written := float64(after.PageAlloc-before.PageAlloc) / float64(b.N)
			b.ReportMetric(written, "page-B/op")
			b.ReportMetric(written/float64(size), "x-value")
		})
	}
}
