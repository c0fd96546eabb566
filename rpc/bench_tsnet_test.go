package rpc_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/rpc"
)

// BenchmarkTailnet measures, in one run over the same two tsnet nodes, the
// floor (a 64-byte TCP ping-pong) and meshrpc small calls at concurrency 1,
// 8 and 64. Compare them as ratios; docs/benchmarks.md has the figures.
func BenchmarkTailnet(b *testing.B) {
	_, nodes := meshtest.Nodes(b, "srv", "cli")
	srv, cli := nodes[0], nodes[1]

	b.Run("raw-pingpong-64B", func(b *testing.B) { benchPingPong(b, srv, cli) })
	b.Run("raw-bulk-1MiB", func(b *testing.B) { benchBulk(b, srv, cli) })
	b.Run("raw-reqresp-64KiB", func(b *testing.B) { benchReqResp(b, srv, cli, 64<<10) })
	b.Run("raw-reqresp-1MiB", func(b *testing.B) { benchReqResp(b, srv, cli, 1<<20) })

	c := serveOnTailnet(b, srv, cli, nil)
	sc := rpc.NewClient(rpc.ClientConfig{Addr: srv.Self().Name + ":4343", Dial: cli.Dial, Stream: true})
	defer sc.Close()
	nc := netRPCClient(b, srv, cli)
	gc := grpcClient(b, srv, cli)
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run("meshrpc-stream-result/"+itoa(size>>10)+"KiB", func(b *testing.B) { benchPayload(b, sc, size) })
		b.Run("meshrpc-post-result/"+itoa(size>>10)+"KiB", func(b *testing.B) { benchPayload(b, c, size) })
	}
	// Throughput with calls in flight, as a caller fetching many results
	// over one stream has them: against raw-bulk-1MiB.
	b.Run("meshrpc-stream-result-4-in-flight/1024KiB", func(b *testing.B) {
		b.SetBytes(1 << 20)
		runBench(b, 4, func() error {
			var out json.RawMessage
			return sc.Call(context.Background(), "blob", []int{1 << 20}, &out)
		})
	})
	for _, conc := range []int{1, 8, 64} {
		b.Run("netrpc/conc="+itoa(conc), func(b *testing.B) { benchNetRPC(b, nc, conc) })
		b.Run("grpc/conc="+itoa(conc), func(b *testing.B) { benchGRPC(b, gc, conc) })
		b.Run("meshrpc-post/conc="+itoa(conc), func(b *testing.B) { benchCalls(b, c, conc) })
		b.Run("meshrpc-stream/conc="+itoa(conc), func(b *testing.B) { benchCalls(b, sc, conc) })
	}
}

func benchPingPong(b *testing.B, srv, cli *mesh.Node) {
	conn, stop := rawConn(b, srv, cli, 7000, func(c net.Conn) { io.Copy(c, c) })
	defer stop()
	buf := make([]byte, 64)
	roundTrip := func() {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		roundTrip()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		roundTrip()
		lat = append(lat, time.Since(t))
	}
	reportLatency(b, lat)
}

// rawConn listens on port of srv's tailnet address, serves the one
// connection it accepts with serve, and returns cli's connection to it; stop
// closes both ends, so that the next run of the benchmark can listen again.
func rawConn(b *testing.B, srv, cli *mesh.Node, port int, serve func(net.Conn)) (conn net.Conn, stop func()) {
	ln, err := srv.Listen("tcp", ":"+itoa(port))
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	conn, err = cli.Dial(context.Background(), "tcp", srv.Addr().String()+":"+itoa(port))
	if err != nil {
		ln.Close()
		b.Fatal(err)
	}
	return conn, func() { conn.Close(); ln.Close() }
}

// benchBulk measures raw tsnet TCP throughput: 1 MiB writes to a sink.
func benchBulk(b *testing.B, srv, cli *mesh.Node) {
	done := make(chan int64, 1)
	conn, stop := rawConn(b, srv, cli, 7003, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		done <- n
	})
	defer stop()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close()
	<-done // the last bytes have arrived
}

// benchReqResp measures raw tsnet TCP in a call's pattern: an 8-byte
// request, then size bytes back, one exchange at a time; the floor for a
// call with a large result.
func benchReqResp(b *testing.B, srv, cli *mesh.Node, size int) {
	conn, stop := rawConn(b, srv, cli, 7004+size>>16, func(c net.Conn) {
		req, resp := make([]byte, 8), make([]byte, size)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
	defer stop()
	req, resp := make([]byte, 8), make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, resp); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPayload measures calls whose result is size bytes (a JSON string).
func benchPayload(b *testing.B, c *rpc.Client, size int) {
	ctx := context.Background()
	var out json.RawMessage
	if err := c.Call(ctx, "blob", []int{size}, &out); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Call(ctx, "blob", []int{size}, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCalls(b *testing.B, c *rpc.Client, conc int) {
	ctx := context.Background()
	runBench(b, conc, func() error { return c.Call(ctx, "get_data", nil, nil) })
}

// runBench warms call up, then makes b.N calls from conc goroutines and
// reports calls/s and latency percentiles.
func runBench(b *testing.B, conc int, call func() error) {
	for range 100 {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N/conc+1)
			for range work {
				t := time.Now()
				if err := call(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

func itoa(n int) string { return strconv.Itoa(n) }
