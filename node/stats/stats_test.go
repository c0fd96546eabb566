package stats

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestBucketsAreMonotonicAndTight(t *testing.T) {
	prev := -1
	for ns := time.Duration(1); ns < 100*time.Second; ns = ns*9/8 + 1 {
		b := bucketOf(ns)
		if b < prev {
			t.Fatalf("bucket of %v is %d, below %d", ns, b, prev)
		}
		prev = b
		lo, hi := lowerBound(b), lowerBound(b+1)
		if float64(ns) < lo || float64(ns) >= hi {
			t.Fatalf("%v lies outside its bucket [%v, %v)", ns, lo, hi)
		}
		if ns > 1000 && (hi-lo)/lo > 0.13 {
			t.Fatalf("bucket of %v is %.0f%% wide", ns, 100*(hi-lo)/lo)
		}
	}
}

func TestPercentiles(t *testing.T) {
	s := New()
	for i := 1; i <= 1000; i++ {
		s.Observe("kv.inc", "laptop", time.Duration(i)*time.Millisecond/10, i%10 == 0) // 0.1..100 ms
	}
	r := s.Report()
	m := r.Methods[0]
	if r.Calls != 1000 || m.Calls != 1000 || m.Errors != 100 || r.Callers[0].Name != "laptop" {
		t.Fatalf("%+v", r)
	}
	if math.Abs(m.P50Ms-50)/50 > 0.1 || math.Abs(m.P99Ms-99)/99 > 0.1 {
		t.Fatalf("p50 %v ms, p99 %v ms; want about 50 and 99", m.P50Ms, m.P99Ms)
	}
}

func TestNamesAreBounded(t *testing.T) {
	s := New()
	for i := range 3 * MaxNames {
		s.Observe(fmt.Sprint("m", i), fmt.Sprint("c", i), time.Millisecond, false)
	}
	r := s.Report()
	if len(r.Methods) != MaxNames+1 || len(r.Callers) != MaxNames+1 {
		t.Fatalf("%d methods, %d callers tracked", len(r.Methods), len(r.Callers))
	}
	if r.Methods[0].Name != Other || r.Methods[0].Calls != 2*MaxNames {
		t.Fatalf("first row %+v", r.Methods[0])
	}
}
