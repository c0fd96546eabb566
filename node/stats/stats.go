// Package stats counts a node's calls since it started, per method and per
// caller: calls, errors and latency percentiles from a log-scale histogram,
// in fixed memory (a bounded number of names, the rest counted as "other").
package stats

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxNames bounds the methods, and separately the callers, tracked by name.
const MaxNames = 256

// Other is the row of names beyond MaxNames.
const Other = "(other)"

// Unknown is the row a node counts calls of unregistered methods under:
// their names are the caller's choice, so they are not kept.
const Unknown = "(unknown)"

// Row is one method's or caller's figures.
type Row struct {
	Name   string  `json:"name"`
	Calls  int64   `json:"calls"`
	Errors int64   `json:"errors"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
}

// Report is a snapshot of Stats.
type Report struct {
	Since   time.Time `json:"since"`
	Calls   int64     `json:"calls"`
	Errors  int64     `json:"errors"`
	Methods []Row     `json:"methods"`
	Callers []Row     `json:"callers"`
}

// Stats counts calls. The zero value is not ready; use New.
type Stats struct {
	since time.Time

	mu      sync.Mutex
	total   counter
	methods map[string]*counter
	callers map[string]*counter
}

// New starts counting now.
func New() *Stats {
	return &Stats{since: time.Now(), methods: map[string]*counter{}, callers: map[string]*counter{}}
}

// Observe counts one call.
func (s *Stats) Observe(method, caller string, d time.Duration, failed bool) {
	b := bucketOf(d)
	s.mu.Lock()
	s.total.add(b, failed)
	named(s.methods, method).add(b, failed)
	named(s.callers, caller).add(b, failed)
	s.mu.Unlock()
}

func named(m map[string]*counter, name string) *counter {
	c, ok := m[name]
	if !ok {
		if len(m) >= MaxNames {
			name = Other
			if c, ok = m[name]; ok {
				return c
			}
		}
		c = &counter{}
		m[name] = c
	}
	return c
}

// Report is the figures now, rows sorted by calls, most first.
func (s *Stats) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Report{
		Since:   s.since,
		Calls:   s.total.calls,
		Errors:  s.total.errors,
		Methods: rows(s.methods),
		Callers: rows(s.callers),
	}
}

func rows(m map[string]*counter) []Row {
	out := make([]Row, 0, len(m))
	for name, c := range m {
		out = append(out, Row{Name: name, Calls: c.calls, Errors: c.errors, P50Ms: c.quantile(0.5), P99Ms: c.quantile(0.99)})
	}
	slices.SortFunc(out, func(a, b Row) int {
		if a.Calls != b.Calls {
			return int(b.Calls - a.Calls)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// The histogram has subBuckets buckets per power of two of nanoseconds, so
// a reported percentile is within about 9% of the true one.
const (
	subBits    = 3
	subBuckets = 1 << subBits
	nBuckets   = 64 * subBuckets
)

type counter struct {
	calls, errors int64
	hist          [nBuckets]uint32
}

func (c *counter) add(bucket int, failed bool) {
	c.calls++
	if failed {
		c.errors++
	}
	if c.hist[bucket] < math.MaxUint32 {
		c.hist[bucket]++
	}
}

// bucketOf maps a duration to its bucket: the power of two, then the next
// subBits bits below the leading one.
func bucketOf(d time.Duration) int {
	ns := uint64(max(d, 1))
	exp := bits.Len64(ns) - 1
	if exp < subBits {
		return int(ns)
	}
	sub := int(ns>>(exp-subBits)) & (subBuckets - 1)
	return min(exp*subBuckets+sub, nBuckets-1)
}

// lowerBound is the smallest duration in bucket b, in nanoseconds.
func lowerBound(b int) float64 {
	if b < subBuckets*subBits {
		return float64(b)
	}
	exp, sub := b/subBuckets, b%subBuckets
	return math.Ldexp(float64(subBuckets+sub), exp-subBits)
}

// quantile is the q-th quantile in milliseconds: the middle of its bucket.
func (c *counter) quantile(q float64) float64 {
	if c.calls == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(c.calls)))
	var seen uint64
	for b, n := range c.hist {
		seen += uint64(n)
		if seen >= rank {
			mid := (lowerBound(b) + lowerBound(b+1)) / 2
			return math.Round(mid/1e3) / 1e3
		}
	}
	return 0
}
