package node_test

// How cost grows (issue 23): with peers (fan-out, listing them), with the
// store's keys, with watchers on a prefix and with the size of a value.
// Each benchmark is bounded: a fixed set of sizes, and the heaviest (64
// peers in one process, a million keys) only when asked through an
// environment variable. docs/benchmarks.md, "How cost grows", has the
// figures and the commands.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/store"
)

// fanOutLimit is cmd/meshrpc's: a fan-out keeps at most 16 calls in flight.
const fanOutLimit = 16

// benchPeers is how many peers BenchmarkFanOut and BenchmarkPeers start:
// 16, or $MESHRPC_BENCH_PEERS (64 for the table; each tsnet node
// costs this process memory and start-up time).
func benchPeers(b *testing.B) int {
	if s := os.Getenv("MESHRPC_BENCH_PEERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("MESHRPC_BENCH_PEERS=%q: want a positive number", s)
		}
		return n
	}
	return 16
}

// heapInUse is the process's live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// startPeers starts n in-memory nodes named peer00.. on dn, eight at a time,
// and reports what they cost: the time to start them and the live heap
// each adds. Stopping one early (a peer gone offline) is its Close.
func startPeers(b *testing.B, dn *devnet.Net, n int) ([]string, []*node.Node) {
	b.Helper()
	heap0, start := heapInUse(), time.Now()
	names, nodes := make([]string, n), make([]*node.Node, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		names[i] = fmt.Sprintf("peer%02d", i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			nodes[i] = serveNode(b, dn, node.Config{Hostname: names[i], InMemory: true})
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	b.Logf("%d peers started in %v, live heap %.1f MiB each", n, time.Since(start).Round(time.Millisecond), float64(heapInUse()-heap0)/float64(n)/(1<<20))
	return names, nodes
}

// serveNode is startNode for nodes that a benchmark may close early: Serve's
// outcome after a Close is not checked.
func serveNode(b *testing.B, dn *devnet.Net, cfg node.Config) *node.Node {
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(b.TempDir(), cfg.Hostname)
	}
	cfg.ControlURL, cfg.Progress = dn.ControlURL(), io.Discard
	n, err := node.New(context.Background(), cfg)
	if err != nil {
		b.Error(err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Serve(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; n.Close() })
	return n
}

// BenchmarkFanOut calls sys.uname on 1, 4, 16 (and, with
// MESHRPC_BENCH_PEERS=64, 64) peers at once over warm connections, at most
// fanOutLimit in flight, as `meshrpc uname --all` does: how the time of a
// fan-out grows with peers. B/op is what the caller allocates per fan-out.
func BenchmarkFanOut(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	names, _ := startPeers(b, dn, benchPeers(b))
	c := dialAs(b, dn, "cafe")
	ctx := context.Background()
	for _, k := range []int{1, 4, 16, 64} {
		if k > len(names) {
			continue
		}
		b.Run(fmt.Sprintf("uname/peers=%d", k), func(b *testing.B) {
			call := func() {
				sem := make(chan struct{}, fanOutLimit)
				var wg sync.WaitGroup
				for _, p := range names[:k] {
					wg.Go(func() {
						sem <- struct{}{}
						defer func() { <-sem }()
						var u api.Uname
						if err := c.Call(ctx, p, "sys.uname", nil, &u); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			call() // connect
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				call()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*k), "µs/peer")
		})
	}
}

// BenchmarkPeers lists the tailnet's peers as `meshrpc peers` does (the
// caller's peer list, then every online peer's sys.info and a disco ping
// at once, each within 2 s) and as sys.peers does (a node probes its
// peers, each within 1 s; every iteration asks another node, whose cache
// is cold), with MESHRPC_BENCH_PEERS (default 16) peers all up, then with
// a quarter of them closed, once the tailnet lists them offline (the
// devnet does a couple of seconds after a node stops): they are not
// probed.
func BenchmarkPeers(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	names, nodes := startPeers(b, dn, benchPeers(b))
	c := dialAs(b, dn, "cafe")
	waitListed(b, c, names)
	list := func(b *testing.B) {
		ctx := context.Background()
		_, peers, err := c.Peers(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var answered atomic.Int64
		for _, p := range peers {
			if !p.Online || len(p.Addrs) == 0 {
				continue
			}
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				var info api.Info
				if node.RunsMeshrpc(c.Call(cctx, p.Addrs[0].String(), "sys.info", nil, &info)) {
					answered.Add(1)
				}
			})
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				c.Ping(cctx, p.Addrs[0])
			})
		}
		wg.Wait()
		b.ReportMetric(float64(answered.Load()), "answered")
	}
	next := 0
	sysPeers := func(b *testing.B) {
		// Ask a node that is up and has not been asked yet in this run.
		var ps []api.PeerStatus
		target := names[next%(len(names)-len(names)/4)]
		next++
		if err := c.Call(context.Background(), target, "sys.peers", nil, &ps); err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, p := range ps {
			if p.Meshrpc {
				n++
			}
		}
		b.ReportMetric(float64(n), "answered")
	}
	run := func(state string) {
		b.Run("list/"+state, func(b *testing.B) {
			for range b.N {
				list(b)
			}
		})
		b.Run("sys.peers/"+state, func(b *testing.B) {
			for range b.N {
				sysPeers(b)
			}
		})
	}
	run("online")
	for _, n := range nodes[len(nodes)-len(nodes)/4:] {
		n.Close()
	}
	waitOffline(b, c, names[len(names)-len(names)/4:])
	run("quarter-offline") // sysPeers asks nodes not asked before: no answers cached
}

// waitListed waits until c lists every named peer.
func waitListed(b *testing.B, c *node.Client, names []string) {
	poll.Until(b, time.Minute, func() error {
		_, peers, err := c.Peers(context.Background())
		if err != nil {
			return err
		}
		if len(peers) < len(names) {
			return fmt.Errorf("cafe lists %d peers of %d", len(peers), len(names))
		}
		return nil
	})
}

// waitOffline waits until c lists every named peer offline.
func waitOffline(b *testing.B, c *node.Client, names []string) {
	poll.Until(b, time.Minute, func() error {
		_, peers, err := c.Peers(context.Background())
		if err != nil {
			return err
		}
		for _, p := range peers {
			if slices.Contains(names, p.Name) && !p.Offline() {
				return fmt.Errorf("cafe lists %s online", p.Name)
			}
		}
		return nil
	})
}

// BenchmarkStoreSize measures a node whose store holds 10k and 100k keys
// (and 1M with MESHRPC_BENCH_1M=1: building it takes a minute or more
// here): opening the store, backing it up, and kv.get, kv.put, kv.inc and
// a kv.list page of 100 and of 1000 entries at random keys over the
// tailnet, one call at a time. The store is built directly with package
// store (integers at keys k/0000000..), then served by a durable node.
func BenchmarkStoreSize(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if os.Getenv("MESHRPC_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	dn := meshtest.Net(b, devnet.Config{})
	c := dialAs(b, dn, "cafe")
	ctx := context.Background()
	key := func(keys int) string { return fmt.Sprintf("k/%07d", rand.IntN(keys)) }
	for _, keys := range sizes {
		name := fmt.Sprintf("keys=%d", keys)
		dir := filepath.Join(b.TempDir(), name)
		path := filepath.Join(dir, "kv.db")
		buildStore(b, path, keys)
		b.Run(name+"/open", func(b *testing.B) {
			for range b.N {
				s, err := store.Open(path, nil)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		})
		b.Run(name+"/backup", func(b *testing.B) {
			s, err := store.Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			copyPath := filepath.Join(b.TempDir(), "backup.db")
			for range b.N {
				info, err := s.Backup(copyPath)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(info.Bytes)
				os.Remove(copyPath)
			}
		})
		home := serveNode(b, dn, node.Config{Hostname: fmt.Sprintf("home%d", keys), StateDir: dir})
		if home == nil {
			b.FailNow()
		}
		host := fmt.Sprintf("home%d", keys)
		calls := []struct {
			name string
			call func() error
		}{
			{"get", func() error {
				var v json.RawMessage
				return c.Call(ctx, host, "kv.get", api.KeyParams{Key: key(keys)}, &v)
			}},
			{"put", func() error {
				return c.Call(ctx, host, "kv.put", api.PutParams{Key: key(keys), Value: json.RawMessage("7")}, nil)
			}},
			{"inc", func() error { return c.Call(ctx, host, "kv.inc", api.IncParams{Key: key(keys)}, nil) }},
			{"list-100", func() error {
				var es []api.Entry
				return c.Call(ctx, host, "kv.list", api.ListParams{Prefix: "k/", After: key(keys), Limit: 100}, &es)
			}},
			{"list-1000", func() error {
				var es []api.Entry
				return c.Call(ctx, host, "kv.list", api.ListParams{Prefix: "k/", After: key(keys), Limit: 1000}, &es)
			}},
		}
		for _, cl := range calls {
			b.Run(name+"/"+cl.name, func(b *testing.B) {
				runConcurrently(b, 1, cl.call)
			})
		}
		home.Close() // its memory and file are not needed by the next size
	}
}

// buildStore writes keys integers at k/0000000.. into a new durable store
// at path, from 256 writers so that commits carry many writes each.
func buildStore(b *testing.B, path string, keys int) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		b.Fatal(err)
	}
	s, err := store.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const writers = 256
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < keys; i += writers {
				if _, err := s.Put(fmt.Sprintf("k/%07d", i), json.RawMessage(strconv.Itoa(i))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a store of %d keys in %v", keys, time.Since(start).Round(time.Millisecond))
}

// BenchmarkWatchers measures kv.put latency (one at a time, over the
// stream, durable) while 0, 1, 100 and 1000 kv.watch long-polls wait on
// the prefix it writes under, each re-armed as soon as it is answered, so
// every put wakes them all. The watchers call from nodes of their own, 50
// to a node, one stream each: a node answers at most 64 calls in flight
// from one caller (rpc.ServerConfig.MaxCallsPerCaller), so 1000 watchers
// are 20 callers.
// KiB/watcher is the live heap the armed watchers add, both ends (caller
// and node) together, as they share this process.
func BenchmarkWatchers(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	startNode(b, dn, node.Config{Hostname: "home"})
	c := dialAs(b, dn, "cafe")
	watchers := make([]*mesh.Node, 1000/perWatcherNode)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range watchers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			watchers[i] = meshtest.Join(b, dn, mesh.Config{Hostname: fmt.Sprintf("watcher%02d", i)})
		})
	}
	wg.Wait()
	ctx := context.Background()
	put := func() (int64, error) {
		var r api.RevResult
		err := c.Call(ctx, "home", "kv.put", api.PutParams{Key: "w/x", Value: json.RawMessage(`"v"`)}, &r)
		return r.Rev, err
	}
	for _, n := range []int{0, 1, 100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			rev0, err := put()
			if err != nil {
				b.Fatal(err)
			}
			heap0 := heapInUse()
			wctx, stop := context.WithCancel(ctx)
			var clients []*rpc.Client
			for i := 0; i < n; i += perWatcherNode {
				clients = append(clients, rpc.NewClient(rpc.ClientConfig{Addr: "home:4343", Dial: watchers[i/perWatcherNode].Dial, Stream: true}))
			}
			var notified atomic.Int64
			var wg sync.WaitGroup
			for i := range n {
				rc := clients[i/perWatcherNode]
				wg.Go(func() {
					rev := rev0
					for wctx.Err() == nil {
						var res api.WatchResult
						err := rc.Call(wctx, "kv.watch", api.WatchParams{Prefix: "w/", AfterRev: rev, Wait: 20}, &res)
						if wctx.Err() != nil {
							return
						}
						if err != nil {
							b.Error(err)
							return
						}
						if len(res.Events) > 0 {
							notified.Add(1)
						}
						rev = res.Rev
					}
				})
			}
			// Every watcher has been answered once and called again: all armed.
			if _, err := put(); err != nil {
				b.Fatal(err)
			}
			poll.Until(b, time.Minute, func() error {
				if got := notified.Load(); got < int64(n) {
					return fmt.Errorf("%d of %d watchers notified", got, n)
				}
				return nil
			})
			perWatcher := float64(heapInUse()-heap0) / float64(max(n, 1)) / 1024
			notified.Store(0)
			runConcurrently(b, 1, func() error { _, err := put(); return err })
			b.StopTimer()
			if n > 0 {
				b.ReportMetric(perWatcher, "KiB/watcher") // after runConcurrently's ResetTimer, which drops metrics
			}
			b.ReportMetric(float64(notified.Load())/b.Elapsed().Seconds(), "notified/s")
			stop()
			wg.Wait()
			for _, rc := range clients {
				rc.Close()
			}
		})
	}
}

// perWatcherNode is how many watchers BenchmarkWatchers runs on one node.
const perWatcherNode = 50

// BenchmarkValueSize puts and gets one key's value, one call at a time,
// over the stream and over POST, from 1 KiB to the store's limit
// (store.MaxValueBytes, 512 KiB: a kv.put's body cannot come near the
// server's 1 MiB body limit). MB/s is the value's bytes.
func BenchmarkValueSize(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	startNode(b, dn, node.Config{Hostname: "home"})
	c := dialAs(b, dn, "cafe")
	poster := meshtest.Join(b, dn, mesh.Config{Hostname: "poster"})
	post := rpc.NewClient(rpc.ClientConfig{Addr: "home:4343", Dial: poster.Dial})
	b.Cleanup(func() { post.Close() })
	ctx := context.Background()
	transports := []struct {
		name string
		call func(method string, params, result any) error
	}{
		{"stream", func(m string, p, r any) error { return c.Call(ctx, "home", m, p, r) }},
		{"post", func(m string, p, r any) error { return post.Call(ctx, m, p, r) }},
	}
	for _, size := range []int{1 << 10, 16 << 10, 64 << 10, 256 << 10, store.MaxValueBytes} {
		value, _ := json.Marshal(strings.Repeat("v", size-2))
		put := api.PutParams{Key: fmt.Sprintf("blob-%d", size), Value: value}
		for _, t := range transports {
			for _, op := range []string{"put", "get"} {
				b.Run(fmt.Sprintf("%s/%s/%dKiB", t.name, op, size>>10), func(b *testing.B) {
					b.SetBytes(int64(size))
					runConcurrently(b, 1, func() error {
						if op == "put" {
							return t.call("kv.put", put.Encode(), nil)
						}
						var got json.RawMessage
						return t.call("kv.get", api.KeyParams{Key: put.Key}, &got)
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
				})
			}
		}
	}
}
