package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

// BenchmarkKVInc measures kv.inc over the tailnet at 1, 8 and 64 concurrent
// callers, with the store durable (fsync per commit) and in memory, in one
// run. Report incs/s; docs/benchmarks.md has the figures.
func BenchmarkKVInc(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	startNode(b, dn, node.Config{Hostname: "durable"})
	startNode(b, dn, node.Config{Hostname: "memory", InMemory: true})
	c := dialAs(b, dn, "cafe")
	for _, target := range []string{"durable", "memory"} {
		for _, callers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", target, callers), func(b *testing.B) {
				runConcurrently(b, callers, func() error {
					return c.Call(context.Background(), target, "kv.inc", []any{"counter"}, nil)
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "incs/s")
			})
		}
	}
}

// BenchmarkAccounting measures what the audit log and sys.stats cost: small
// calls (sys.ping) at 64 concurrent callers, to a node that accounts for
// every call and to one that does not, in one run. Report calls/s; the
// ratio is in docs/benchmarks.md.
func BenchmarkAccounting(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	startNode(b, dn, node.Config{Hostname: "audited", InMemory: true})
	startNode(b, dn, node.Config{Hostname: "unaudited", InMemory: true, NoAccounting: true})
	c := dialAs(b, dn, "cafe")
	// Warm both up first (streams, workers, the heap), or whichever runs
	// first pays for it.
	for _, target := range []string{"audited", "unaudited"} {
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for range 200 {
					c.Call(context.Background(), target, "sys.ping", nil, nil)
				}
			})
		}
		wg.Wait()
	}
	for _, target := range []string{"audited", "unaudited"} {
		b.Run(target, func(b *testing.B) {
			runConcurrently(b, 64, func() error {
				return c.Call(context.Background(), target, "sys.ping", nil, nil)
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkSeedWorkload is the original's workload: 5 callers x 1000 x
// (kv.get + kv.inc) on one key, with the store durable and, to show what
// the fsyncs cost, in memory. Report calls/s and the multiple of the
// BaseManager original's 25 calls/s.
func BenchmarkSeedWorkload(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	startNode(b, dn, node.Config{Hostname: "durable"})
	startNode(b, dn, node.Config{Hostname: "memory", InMemory: true})
	c := dialAs(b, dn, "cafe")
	ctx := context.Background()
	for _, target := range []string{"durable", "memory"} {
		b.Run(target, func(b *testing.B) {
			for range b.N {
				var wg sync.WaitGroup
				for range 5 {
					wg.Go(func() {
						for range 1000 {
							if err := c.Call(ctx, target, "kv.get", []any{"hikakin"}, nil); err != nil {
								b.Error(err)
								return
							}
							if err := c.Call(ctx, target, "kv.inc", []any{"hikakin"}, nil); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds()/25, "x-BaseManager")
		})
	}
}

// runConcurrently makes b.N calls of fn from n goroutines; a nil fn does
// nothing.
func runConcurrently(b *testing.B, n int, fn func() error) {
	if fn == nil {
		return
	}
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range work {
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkKVLarge puts and gets values of 64 KiB and 512 KiB, one at a
// time, over the stream, in one process: for profiling the path a large
// value takes (the deployed figures are cmd/meshrpc's BenchmarkDeployed).
func BenchmarkKVLarge(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	startNode(b, dn, node.Config{Hostname: "home"})
	c := dialAs(b, dn, "cafe")
	ctx := context.Background()
	for _, size := range []int{64 << 10, 512 << 10} {
		value, _ := json.Marshal(strings.Repeat("v", size-2))
		put := api.PutParams{Key: fmt.Sprintf("blob-%d", size), Value: value}
		b.Run(fmt.Sprintf("put/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			runConcurrently(b, 1, func() error { return c.Call(ctx, "home", "kv.put", put.Encode(), nil) })
		})
		b.Run(fmt.Sprintf("get/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			runConcurrently(b, 1, func() error {
				var got json.RawMessage
				return c.Call(ctx, "home", "kv.get", api.KeyParams{Key: put.Key}, &got)
			})
		})
	}
}

// BenchmarkProvided compares a procedure a program provides through the
// node's socket (node.Provide) with the same procedure registered in the
// node's own process, called over the tailnet at 1 and 64 concurrent
// callers. The two alternate in blocks within one run, so that the
// machine's drift (large on a shared VM) falls on both alike; it reports
// each one's calls/s and program/own, the provided call's time over the
// registered one's (its latency ratio at c=1, its throughput's inverse at
// c=64). An op is one call of each.
func BenchmarkProvided(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	dir := b.TempDir()
	home := startNode(b, dn, node.Config{Hostname: "home", StateDir: dir, InMemory: true})
	echo := func(ctx context.Context, p struct {
		Text string `json:"text"`
	}) (string, error) {
		return p.Text, nil
	}
	rpc.Register(home.Registry(), "own.echo", "Echoes text.", echo).ReadOnly = true
	reg := rpc.NewRegistry()
	rpc.Register(reg, "program.echo", "Echoes text.", echo).ReadOnly = true
	ctx, stop := context.WithCancel(context.Background())
	b.Cleanup(stop)
	provided := make(chan error, 1)
	go func() { provided <- node.Provide(ctx, node.ProviderConfig{Name: "bench", StateDir: dir}, reg) }()
	c := dialAs(b, dn, "cafe")
	poll.Until(b, time.Minute, func() error {
		select {
		case err := <-provided:
			b.Fatalf("the provider ended: %v", err)
		default:
		}
		return c.Call(ctx, "home", "program.echo", []any{"warm"}, nil)
	})
	call := func(method string) func() error {
		return func() error { return c.Call(context.Background(), "home", method, []any{"hello"}, nil) }
	}
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			block := 64 * callers // calls of one kind before the other's turn
			var own, program time.Duration
			for done := 0; done < b.N; done += block {
				n := min(block, b.N-done)
				own += timeCalls(b, n, callers, call("own.echo"))
				program += timeCalls(b, n, callers, call("program.echo"))
			}
			b.ReportMetric(float64(b.N)/own.Seconds(), "own-calls/s")
			b.ReportMetric(float64(b.N)/program.Seconds(), "program-calls/s")
			b.ReportMetric(program.Seconds()/own.Seconds(), "program/own")
		})
	}
}

// timeCalls makes n calls of fn from callers goroutines and returns how
// long they took.
func timeCalls(b *testing.B, n, callers int, fn func() error) time.Duration {
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
