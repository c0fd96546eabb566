package main

import (
	"bufio"
	"bytes"
	"context"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/grpcecho"
	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/store"
	"golang.org/x/sys/unix"
)

// BenchmarkDeployed measures meshrpc as users deploy it, in separate
// processes on one devnet: `meshrpc serve` (this package's binary) as
// "home", a program on home's machine that provides bench.ping through
// its socket (node.Provide), the calling node in the benchmark's own
// process, and a raw tsnet peer, "floor", which serves the
// floors every figure is compared with: a TCP echo, a TCP exchange of
// chosen sizes, a JSON-RPC server over net/http that does nothing, and
// grpc-go's unary echo (internal/grpcecho). Two more floors: a program
// that echoes lines on a Unix socket, in Go and in Python (a provided
// call's hop, doing nothing), and the store alone, in the benchmark's
// process, on home's file system. All figures come from one run;
// .ci/bench prints their ratios and the seed workload's bound. Each iteration of a seed sub-benchmark is the
// original's whole workload (run those with -benchtime 1x); the others
// are one call each.
func BenchmarkDeployed(b *testing.B) {
	dn := meshtest.Net(b, devnet.Config{})
	stateDir := filepath.Join(b.TempDir(), "home")
	homeCPU := processCPU(serveHome(b, dn.ControlURL(), stateDir).cmd.Process.Pid)
	providerCPU := processCPU(startProvider(b, stateDir))
	echoSocket := startEcho(b)
	floorCPU := processCPU(startFloor(b, dn.ControlURL()))
	cli := meshtest.Join(b, dn, mesh.Config{Hostname: "cafe"})
	home, floor := peerAddr(b, cli, "home"), peerAddr(b, cli, "floor")

	stream := rpc.NewClient(rpc.ClientConfig{Addr: home + ":4343", Dial: cli.Dial, Stream: true})
	b.Cleanup(func() { stream.Close() })
	post := rpc.NewClient(rpc.ClientConfig{Addr: home + ":4343", Dial: cli.Dial})
	b.Cleanup(func() { post.Close() })
	nethttp := rpc.NewClient(rpc.ClientConfig{Addr: floor + ":" + floorHTTPPort, Dial: cli.Dial})
	b.Cleanup(func() { nethttp.Close() })
	grpcc, err := grpcecho.Dial(floor+":"+floorGRPCPort, cli.Dial)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { grpcc.Close() })

	b.Run("raw-pingpong-64B", func(b *testing.B) { benchRawExchange(b, cli, floor, 64, 64) })
	b.Run("commit-2x4KiB-fdatasync", func(b *testing.B) { benchCommit(b, stateDir) })
	for _, conc := range []int{1, 5, 64} {
		b.Run(fmt.Sprintf("nethttp-nothing/conc=%d", conc), func(b *testing.B) { benchPing(b, nethttp, conc, floorCPU) })
		b.Run(fmt.Sprintf("post-ping/conc=%d", conc), func(b *testing.B) { benchPing(b, post, conc, homeCPU) })
		b.Run(fmt.Sprintf("stream-ping/conc=%d", conc), func(b *testing.B) { benchPing(b, stream, conc, homeCPU) })
		b.Run(fmt.Sprintf("provided-ping/conc=%d", conc), func(b *testing.B) { benchProvided(b, stream, conc, homeCPU, providerCPU) })
		b.Run(fmt.Sprintf("grpc-echo/conc=%d", conc), func(b *testing.B) {
			runCalls(b, conc, func() error { return grpcecho.Call(context.Background(), grpcc) }, floorCPU)
		})
	}
	b.Run("hop-ping/go", func(b *testing.B) { benchHop(b, stream, echoSocket) })
	b.Run("hop-ping/python", func(b *testing.B) { benchHop(b, stream, startPythonEcho(b)) })
	b.Run("seed/stream", func(b *testing.B) { benchSeed(b, stream) })
	b.Run("seed/post", func(b *testing.B) { benchSeed(b, post) })
	for _, size := range []int{64 << 10, 512 << 10} {
		kib := fmt.Sprintf("%dKiB", size>>10)
		b.Run("store-put/"+kib, func(b *testing.B) { benchStorePut(b, size) })
		b.Run("raw-put/"+kib, func(b *testing.B) { benchRawExchange(b, cli, floor, size, 8, floorCPU) })
		b.Run("raw-get/"+kib, func(b *testing.B) { benchRawExchange(b, cli, floor, 8, size, floorCPU) })
		for _, c := range []struct {
			name   string
			client *rpc.Client
		}{{"stream", stream}, {"post", post}} {
			b.Run(c.name+"-put/"+kib, func(b *testing.B) { benchPut(b, c.client, size, homeCPU) })
			b.Run(c.name+"-get/"+kib, func(b *testing.B) { benchGet(b, c.client, size, homeCPU) })
		}
	}
}

// peerAddr waits until cli sees the named peer online and returns its
// tailnet address: calls go by address, never by a name.
func peerAddr(b testing.TB, cli *mesh.Node, name string) string {
	var addr string
	poll.Until(b, time.Minute, func() error {
		peers, err := cli.Peers(context.Background())
		if err != nil {
			return err
		}
		for _, p := range peers {
			if p.Name == name && p.Online && len(p.Addrs) > 0 {
				addr = p.Addrs[0].String()
				return nil
			}
		}
		return fmt.Errorf("%s is not online on the devnet", name)
	})
	return addr
}

// benchPing makes b.N sys.ping calls from conc goroutines; against the
// floor's do-nothing server, any method answers. cpu is the serving
// peer's CPU time.
func benchPing(b *testing.B, c *rpc.Client, conc int, cpu func() time.Duration) {
	ctx := context.Background()
	runCalls(b, conc, func() error { return c.Call(ctx, "sys.ping", nil, nil) }, cpu)
}

// benchProvided compares bench.ping, which a program provides through
// home's socket, with home's own sys.ping over the stream, alternating
// (see alternate). It reports each one's calls/s, program/own (the
// provided call's time over sys.ping's: its latency ratio at c=1, its
// rate's inverse at c=64), and the serving side's CPU per call of each
// (home's for sys.ping; home's and the program's for bench.ping, and the
// program's alone). An op is one call of each.
func benchProvided(b *testing.B, c *rpc.Client, conc int, homeCPU, programCPU func() time.Duration) {
	ctx := context.Background()
	poll.Until(b, time.Minute, func() error { return c.Call(ctx, "bench.ping", nil, nil) }) // the program has connected
	own := &timed{call: func() error { return c.Call(ctx, "sys.ping", nil, nil) }, cpu: homeCPU}
	program := &timed{call: func() error { return c.Call(ctx, "bench.ping", nil, nil) },
		cpu: func() time.Duration { return homeCPU() + programCPU() }}
	before := programCPU()
	alternate(b, conc, own, program)
	programUsed := programCPU() - before // it serves nothing but bench.ping
	b.ReportMetric(float64(b.N)/own.took.Seconds(), "own-calls/s")
	b.ReportMetric(float64(b.N)/program.took.Seconds(), "program-calls/s")
	b.ReportMetric(program.took.Seconds()/own.took.Seconds(), "program/own")
	b.ReportMetric(float64(own.used.Microseconds())/float64(b.N), "own-cpu-us/op")
	b.ReportMetric(float64(program.used.Microseconds())/float64(b.N), "program-cpu-us/op")
	b.ReportMetric(float64(programUsed.Microseconds())/float64(b.N), "program-alone-cpu-us/op")
}

// benchHop is benchProvided's floor at concurrency 1: home's sys.ping,
// then one line there and back over the Unix socket sock to a program on
// this machine that only echoes it (the hop a provided call adds, with
// neither end doing anything else), alternating with sys.ping alone. hop/own is
// the least program/own a procedure one socket hop away could show here.
func benchHop(b *testing.B, c *rpc.Client, sock string) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	line := []byte(`{"jsonrpc":"2.0","id":1,"result":"pong"}` + "\n")
	ctx := context.Background()
	ping := func() error { return c.Call(ctx, "sys.ping", nil, nil) }
	own := &timed{call: ping}
	hop := &timed{call: func() error {
		if err := ping(); err != nil {
			return err
		}
		if _, err := conn.Write(line); err != nil {
			return err
		}
		_, err := r.ReadSlice('\n')
		return err
	}}
	alternate(b, 1, own, hop)
	b.ReportMetric(float64((hop.took-own.took).Microseconds())/float64(b.N), "hop-us")
	b.ReportMetric(hop.took.Seconds()/own.took.Seconds(), "hop/own")
}

// timed is one kind of call in alternate, and the time and CPU (cpu's,
// when set) its calls took.
type timed struct {
	call       func() error
	cpu        func() time.Duration
	took, used time.Duration
}

// alternate makes b.N calls of each kind from conc goroutines, the kinds
// taking turns in blocks of 64 x conc calls, so that the machine's drift
// falls on all of them alike.
func alternate(b *testing.B, conc int, kinds ...*timed) {
	b.ResetTimer()
	block := 64 * conc
	for done := 0; done < b.N; done += block {
		for _, k := range kinds {
			n := int64(min(block, b.N-done))
			var next atomic.Int64
			var cpu time.Duration
			if k.cpu != nil {
				cpu = k.cpu()
			}
			start := time.Now()
			var wg sync.WaitGroup
			for range conc {
				wg.Go(func() {
					for next.Add(1) <= n {
						if err := k.call(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			k.took += time.Since(start)
			if k.cpu != nil {
				k.used += k.cpu() - cpu
			}
		}
	}
}

// benchSeed is the original's workload, b.N times: 5 clients, each making
// 1000 rounds of kv.get and kv.inc on one key. It fails unless the counter
// grew by exactly 5000 each time.
func benchSeed(b *testing.B, c *rpc.Client) {
	ctx := context.Background()
	key := "seed-" + strings.ReplaceAll(b.Name(), "/", "-")
	read := func() int64 {
		var n int64
		if err := c.Call(ctx, "kv.get", api.KeyParams{Key: key}, &n); err != nil && rpc.CodeOf(err) != rpc.CodeNotFound {
			b.Fatal(err)
		}
		return n
	}
	const clients, rounds = 5, 1000
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		before := read()
		b.StartTimer()
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for range rounds {
					if err := c.Call(ctx, "kv.get", api.KeyParams{Key: key}, nil); err != nil && rpc.CodeOf(err) != rpc.CodeNotFound {
						b.Error(err)
						return
					}
					if err := c.Call(ctx, "kv.inc", api.IncParams{Key: key}, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if got := read() - before; got != clients*rounds {
			b.Fatalf("the counter grew by %d, want exactly %d", got, clients*rounds)
		}
		b.StartTimer()
	}
	calls := float64(b.N * clients * rounds * 2)
	b.ReportMetric(calls/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(calls/b.Elapsed().Seconds()/25, "x-BaseManager")
}

// blob is kv.put's params for a value (a JSON string) of size bytes.
func blob(size int) api.PutParams {
	value, _ := json.Marshal(strings.Repeat("v", size-2))
	return api.PutParams{Key: fmt.Sprintf("blob-%d", size), Value: value}
}

// benchPut writes a value of size bytes to one key, one at a time; cpu
// is the serving node's CPU time.
func benchPut(b *testing.B, c *rpc.Client, size int, cpu func() time.Duration) {
	ctx := context.Background()
	params := blob(size).Encode()
	b.SetBytes(int64(size))
	runCalls(b, 1, func() error { return c.Call(ctx, "kv.put", params, nil) }, cpu)
}

// benchStorePut is benchPut's store alone: the same puts, one at a time,
// each made for a request of its own as kv.put's are, into a new store on
// home's file system.
func benchStorePut(b *testing.B, size int) {
	s, err := store.Open(filepath.Join(b.TempDir(), "kv.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := blob(size)
	b.SetBytes(int64(size))
	i := 0
	runCalls(b, 1, func() error {
		i++
		_, err := s.For(strconv.Itoa(i)).Put(p.Key, p.Value)
		return err
	})
}

// benchGet reads a value of size bytes, one at a time.
func benchGet(b *testing.B, c *rpc.Client, size int, cpu func() time.Duration) {
	ctx := context.Background()
	if err := c.Call(ctx, "kv.put", blob(size), nil); err != nil {
		b.Fatal(err)
	}
	params := api.KeyParams{Key: blob(size).Key}
	b.SetBytes(int64(size))
	runCalls(b, 1, func() error {
		var value json.RawMessage
		if err := c.Call(ctx, "kv.get", params, &value); err != nil {
			return err
		}
		if len(value) != size {
			return fmt.Errorf("kv.get returned %d bytes, want %d", len(value), size)
		}
		return nil
	}, cpu)
}

// benchCommit is what one store commit costs the disk, as bbolt makes it:
// two 4 KiB writes, each followed by fdatasync, in the data file's
// directory.
func benchCommit(b *testing.B, dir string) {
	f, err := os.CreateTemp(dir, "commit-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	b.ResetTimer()
	for i := range b.N {
		for j := range 2 {
			if _, err := f.WriteAt(page, int64((2*i+j)%64)*4096); err != nil {
				b.Fatal(err)
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchRawExchange is the floor of a call over raw tsnet TCP to the floor
// peer: up bytes there, down bytes back, one exchange at a time. cpu, if
// given, is the floor peer's CPU time.
func benchRawExchange(b *testing.B, cli *mesh.Node, floor string, up, down int, cpu ...func() time.Duration) {
	conn, err := cli.Dial(context.Background(), "tcp", net.JoinHostPort(floor, floorTCPPort))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := make([]byte, 8+up)
	bin.BigEndian.PutUint32(req, uint32(up))
	bin.BigEndian.PutUint32(req[4:], uint32(down))
	resp := make([]byte, down)
	b.SetBytes(int64(max(up, down)))
	runCalls(b, 1, func() error {
		if _, err := conn.Write(req); err != nil {
			return err
		}
		_, err := io.ReadFull(conn, resp)
		return err
	}, cpu...)
}

// runCalls warms call up, then makes b.N calls from conc goroutines and
// reports calls/s and the latency percentiles, and with cpu (the serving
// peer's CPU time) that peer's CPU per call.
func runCalls(b *testing.B, conc int, call func() error, cpu ...func() time.Duration) {
	for range 50 {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var cpuBefore time.Duration
	for _, c := range cpu {
		cpuBefore = c()
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
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
	for _, c := range cpu {
		b.ReportMetric(float64((c()-cpuBefore).Microseconds())/float64(b.N), "peer-cpu-us/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	}
}

// The floor peer's ports on its tailnet address.
const (
	floorTCPPort  = "7000"
	floorHTTPPort = "8080"
	floorGRPCPort = "7002"
	floorEnv      = "MESHRPC_BENCH_FLOOR_CONTROL_URL"
)

// startFloor runs this test binary again as the floor peer, in a process
// of its own, and waits until it serves; it returns the process's id. It
// stops when its stdin closes.
func startFloor(b *testing.B, controlURL string) (pid int) {
	cmd, stdout := reexec(b, "floor", floorEnv+"="+controlURL, "MESHRPC_BENCH_FLOOR_STATE_DIR="+b.TempDir())
	awaitReady(b, "the floor peer", stdout)
	return cmd.Process.Pid
}

// The provider's environment: the serving node's state directory.
const providerEnv = "MESHRPC_BENCH_PROVIDER_STATE_DIR"

// startProvider runs this test binary again as a program on home's
// machine that provides bench.ping, a procedure like sys.ping, through the
// socket in stateDir; it returns the process's id. It stops when its stdin
// closes. benchProvided waits until it serves.
func startProvider(b *testing.B, stateDir string) (pid int) {
	cmd, _ := reexec(b, "provider", providerEnv+"="+stateDir)
	return cmd.Process.Pid
}

// The echo program's environment: the Unix socket it listens on.
const echoEnv = "MESHRPC_BENCH_ECHO_SOCKET"

// startEcho runs this test binary again as a Go program on this machine
// that echoes lines on a Unix socket (benchHop's), and returns the
// socket's path once it listens. It stops when its stdin closes.
func startEcho(b *testing.B) (sock string) {
	sock = filepath.Join(b.TempDir(), "echo.sock")
	_, stdout := reexec(b, "echo", echoEnv+"="+sock)
	awaitReady(b, "the echo program", stdout)
	return sock
}

// pythonEcho is startEcho's program in Python: a program on the node's
// machine need not be Go, and a Go runtime pays wake-ups of its own when
// a line arrives at a process whose threads sleep.
const pythonEcho = `
import socket, sys, threading
ln = socket.socket(socket.AF_UNIX)
ln.bind(sys.argv[1])
ln.listen()
def serve(c):
    for line in c.makefile("rb"):
        c.sendall(line)
def accept():
    while True:
        threading.Thread(target=serve, args=(ln.accept()[0],), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
`

// startPythonEcho is startEcho with python3, when the machine has it.
func startPythonEcho(b *testing.B) (sock string) {
	python, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("no python3 here")
	}
	sock = filepath.Join(b.TempDir(), "echo.sock")
	awaitReady(b, "the Python echo", start(b, exec.Command(python, "-c", pythonEcho, sock)))
	return sock
}

// runEcho is the echo program's whole life: answer each line on sock with
// itself until stdin closes.
func runEcho(sock string) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	go acceptEach(ln, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
}

// reexec runs this test binary again as a helper process (TestMain sees
// its environment and runs no test; role only names it in ps), which
// stops when its stdin closes, at the benchmark's end. It returns the
// helper and its stdout.
func reexec(b *testing.B, role string, env ...string) (*exec.Cmd, io.Reader) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+role+"$")
	cmd.Env = append(os.Environ(), env...)
	return cmd, start(b, cmd)
}

// start starts a helper process that stops when its stdin closes, at the
// benchmark's end, and returns its stdout.
func start(b *testing.B, cmd *exec.Cmd) io.Reader {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	return stdout
}

// awaitReady waits for a helper's "ready" line.
func awaitReady(b *testing.B, what string, stdout io.Reader) {
	ready := make([]byte, len("ready\n"))
	if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
		b.Fatalf("%s did not start: %q %v", what, ready, err)
	}
}

// runProvider is the provider's whole life: provide bench.ping through
// the node at stateDir until stdin closes.
func runProvider(stateDir string) {
	reg := rpc.NewRegistry()
	rpc.Register(reg, "bench.ping", `Answers "pong", as sys.ping does, from a program.`, func(context.Context, api.NoParams) (string, error) {
		return "pong", nil
	}).ReadOnly = true
	ctx, stop := context.WithCancel(context.Background())
	go func() { io.Copy(io.Discard, os.Stdin); stop() }()
	if err := node.Provide(ctx, node.ProviderConfig{Name: "bench", StateDir: stateDir}, reg); err != nil {
		fmt.Fprintln(os.Stderr, "provider:", err)
		os.Exit(1)
	}
}

// processCPU returns a function that reads the CPU time process pid has
// used so far: the sum of its threads' time on a CPU, in nanoseconds, from
// /proc/PID/task/*/schedstat (a Go process keeps its threads), or where
// the kernel has no schedstat, user and system time from /proc/PID/stat
// in clock ticks of 10 ms, when a figure per call needs many calls.
func processCPU(pid int) func() time.Duration {
	return func() time.Duration {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		var sum time.Duration
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue // a thread that just ended
			}
			ns, _ := strconv.ParseInt(strings.Fields(string(b) + " 0")[0], 10, 64)
			sum += time.Duration(ns)
		}
		if sum > 0 {
			return sum
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// The fields after the command's name, which ends with the last ')':
		// state is the first; utime and stime are the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return 0
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
}

// runFloor is the floor peer's whole life: join the devnet as "floor",
// serve the raw exchange, the do-nothing JSON-RPC server and grpc-go's
// echo, say "ready", and leave when stdin closes.
func runFloor() {
	ctx := context.Background()
	n, err := mesh.Join(ctx, mesh.Config{
		Hostname: "floor", StateDir: os.Getenv("MESHRPC_BENCH_FLOOR_STATE_DIR"),
		ControlURL: os.Getenv(floorEnv), Progress: io.Discard, Logf: func(string, ...any) {},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	tcp, err := n.Listen("tcp", ":"+floorTCPPort)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	go serveExchanges(tcp)
	web, err := n.Listen("tcp", ":"+floorHTTPPort)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	go http.Serve(web, http.HandlerFunc(answerNothing))
	g, err := n.Listen("tcp", ":"+floorGRPCPort)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	grpcecho.Serve(g)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	n.Close()
}

// serveExchanges answers each connection's exchanges: an 8-byte header
// (bytes up, bytes down), the bytes up, then the bytes down.
func serveExchanges(ln net.Listener) {
	acceptEach(ln, func(c net.Conn) {
		var hdr [8]byte
		var up, down []byte
		for {
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			up = slices.Grow(up[:0], int(bin.BigEndian.Uint32(hdr[:])))[:bin.BigEndian.Uint32(hdr[:])]
			down = slices.Grow(down[:0], int(bin.BigEndian.Uint32(hdr[4:])))[:bin.BigEndian.Uint32(hdr[4:])]
			if _, err := io.ReadFull(c, up); err != nil {
				return
			}
			if _, err := c.Write(down); err != nil {
				return
			}
		}
	})
}

// acceptEach serves each connection ln accepts on a goroutine of its own,
// and closes it after, until ln closes.
func acceptEach(ln net.Listener, serve func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			serve(c)
		}()
	}
}

// answerNothing is a JSON-RPC server over net/http that does nothing: it
// decodes the request and answers its id with "pong".
func answerNothing(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":"pong"}`, req.ID)
}
