package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/rpc"
)

func streamClient(t *testing.T, addr string) *rpc.Client {
	c := rpc.NewClient(rpc.ClientConfig{Addr: addr, Stream: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// gated registers "gate" on reg: a call to it says on started that its
// handler runs, then waits until release is closed, whatever its context.
func gated(reg *rpc.Registry) (started <-chan struct{}, release chan<- struct{}) {
	start, rel := make(chan struct{}, 1), make(chan struct{})
	rpc.Register(reg, "gate", "Waits for the test to release it.", func(ctx context.Context, _ struct{}) (string, error) {
		start <- struct{}{}
		<-rel
		return "released", nil
	})
	return start, rel
}

func TestStreamCallsConcurrentlyAndRepliesOutOfOrder(t *testing.T) {
	reg := testRegistry()
	started, release := gated(reg)
	c := streamClient(t, serve(t, rpc.Config{Registry: reg}))
	ctx := context.Background()
	// A call that runs until released first: the ones behind it must not
	// wait for it.
	slow := make(chan error, 1)
	go func() { slow <- c.Call(ctx, "gate", nil, nil) }()
	<-started
	fast := make(chan struct{})
	go func() {
		defer close(fast)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				var n int64
				if err := c.Call(ctx, "inc", []any{"k"}, &n); err != nil || n == 0 {
					t.Errorf("inc on the stream: %d, %v", n, err)
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-fast:
	case err := <-slow:
		t.Fatalf("the gated call ended before it was released: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("50 calls wait behind one that is still running")
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := c.Call(ctx, "inc", []any{"k", 0}, &n); err != nil || n != 51 {
		t.Fatalf("after 50 concurrent increments + 1: %d, %v", n, err)
	}
}

func TestStreamErrors(t *testing.T) {
	c := streamClient(t, serve(t, rpc.Config{}))
	ctx := context.Background()
	if err := c.Call(ctx, "inc", map[string]any{"key": 1}, nil); rpc.CodeOf(err) != rpc.CodeInvalidParams {
		t.Fatalf("bad params on the stream: %v", err)
	}
	if err := c.Call(ctx, "panic", nil, nil); rpc.CodeOf(err) != rpc.CodeInternalError {
		t.Fatalf("panic on the stream: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Call(short, "block", nil, nil); rpc.CodeOf(err) != rpc.CodeDeadlineExceeded {
		t.Fatalf("client deadline on the stream: %v", err)
	}
	if err := c.Call(ctx, "get_data", nil, nil); err != nil {
		t.Fatalf("the stream after errors: %v", err)
	}
}

func TestStreamRefusesForeignOrigins(t *testing.T) {
	addr := serve(t, rpc.Config{})
	req, _ := http.NewRequest("GET", "http://"+addr+"/rpc", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("upgrade from a foreign origin: %d, want 403", resp.StatusCode)
	}
}

func TestStreamRedialsAfterClose(t *testing.T) {
	addr := serve(t, rpc.Config{})
	c := streamClient(t, addr)
	if err := c.Call(context.Background(), "get_data", nil, nil); err != nil {
		t.Fatal(err)
	}
	c.Close() // drops the stream; the next call dials a new one
	if err := c.Call(context.Background(), "get_data", nil, nil); err != nil {
		t.Fatalf("after Close: %v", err)
	}
}

func TestStreamCarriesCallIDAndDeadline(t *testing.T) {
	reg := testRegistry()
	rpc.Register(reg, "callid", "The call's id.", func(ctx context.Context, _ struct{}) (string, error) {
		return rpc.CallIDFrom(ctx), nil
	})
	ended := make(chan error, 1)
	rpc.Register(reg, "wait", "Waits for its context to end.", func(ctx context.Context, _ struct{}) (string, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return "", ctx.Err()
	})
	c := streamClient(t, serve(t, rpc.Config{Registry: reg, DefaultTimeout: time.Minute}))
	var id string
	if err := c.Call(rpc.WithCallID(context.Background(), "my-call-7"), "callid", nil, &id); err != nil || id != "my-call-7" {
		t.Fatalf("call id on the stream: %q, %v", id, err)
	}
	// The handler's context ends at the client's deadline, not at the
	// server's own minute.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c.Call(ctx, "wait", nil, nil)
	select {
	case err := <-ended:
		if err != context.DeadlineExceeded {
			t.Fatalf("handler context ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the client's deadline did not reach the handler over the stream")
	}
}

func TestShutdownClosesStreamsAfterTheirCalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := testRegistry()
	started, release := gated(reg)
	srv := rpc.NewServer(rpc.Config{Registry: reg})
	go srv.Serve(ln)
	c := streamClient(t, ln.Addr().String())
	if err := c.Call(context.Background(), "get_data", nil, nil); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() { slow <- c.Call(context.Background(), "gate", nil, nil) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(ctx) }()
	// Shutdown has begun once the listener refuses new connections; only
	// then is the call in flight let finish.
	poll.Until(t, 10*time.Second, func() error {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			conn.Close()
			return errors.New("the listener still accepts connections after Shutdown began")
		}
		return nil
	})
	close(release)
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown with an open stream: %v", err)
	}
	if err := <-slow; err != nil {
		t.Fatalf("a call in flight at Shutdown: %v; want it answered", err)
	}
	if err := c.Call(context.Background(), "get_data", nil, nil); !errors.Is(err, rpc.ErrUnavailable) && rpc.CodeOf(err) != rpc.CodeUnavailable {
		t.Fatalf("a call after Shutdown: %v; want unavailable", err)
	}
}

// readIDs reads one message and returns the ids of the replies it holds.
func readIDs(t *testing.T, ctx context.Context, conn *websocket.Conn) []string {
	t.Helper()
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var replies []struct {
		ID json.RawMessage `json:"id"`
	}
	if data[0] != '[' {
		data = append(append([]byte("["), data...), ']')
	}
	if err := json.Unmarshal(data, &replies); err != nil {
		t.Fatalf("reply %s: %v", data, err)
	}
	var ids []string
	for _, r := range replies {
		ids = append(ids, string(r.ID))
	}
	return ids
}

func TestPackedRequestsAreAnsweredEachOnItsOwn(t *testing.T) {
	addr := serve(t, rpc.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pack := `[{"jsonrpc":"2.0","id":1,"method":"sleep","params":{"ms":300}},` +
		`{"jsonrpc":"2.0","id":2,"method":"get_data"},7]`
	for _, proto := range []string{rpc.PackSubprotocol, rpc.CoalesceSubprotocol, ""} {
		t.Run("subprotocol="+proto, func(t *testing.T) {
			opts := &websocket.DialOptions{}
			if proto != "" {
				opts.Subprotocols = []string{proto}
			}
			conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/rpc", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			if err := conn.Write(ctx, websocket.MessageText, []byte(pack)); err != nil {
				t.Fatal(err)
			}
			var first, all []string
			for len(all) < 3 {
				ids := readIDs(t, ctx, conn)
				if first == nil {
					first = ids
				}
				all = append(all, ids...)
			}
			if proto == rpc.PackSubprotocol {
				// The fast call and the refusal of 7 come first; the sleep's reply on its own later.
				if slices.Contains(first, "1") {
					t.Fatalf("packed requests waited for each other: first message held %v", first)
				}
			} else if len(first) != 3 {
				t.Fatalf("without %s an array is a batch, answered as one: first message held %v", rpc.PackSubprotocol, first)
			}
			slices.Sort(all)
			if !slices.Equal(all, []string{"1", "2", "null"}) {
				t.Fatalf("replies for %v, want 1, 2 and null (the refused 7)", all)
			}
		})
	}
}

func TestStreamMatchesPackedRepliesToTheirCalls(t *testing.T) {
	// 200 calls at once from one caller: above the default per-caller
	// limit (64), which would refuse some whenever the server lags.
	c := streamClient(t, serve(t, rpc.Config{MaxCallsPerCaller: 200}))
	var wg sync.WaitGroup
	for n := range 200 {
		wg.Go(func() {
			var s string
			if err := c.Call(context.Background(), "blob", map[string]int{"n": n}, &s); err != nil || len(s) != n {
				t.Errorf("blob %d: %d bytes, %v", n, len(s), err)
			}
		})
	}
	wg.Wait()
}

// A caller making exactly as many concurrent calls as its limit is never
// refused: a call's slot is free before its reply can reach the caller.
func TestCallerAtItsLimitIsNeverRefused(t *testing.T) {
	c := streamClient(t, serve(t, rpc.Config{MaxCallsPerCaller: 4}))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if err := c.Call(context.Background(), "get_data", nil, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// An array longer than a pack (64) is a batch even under meshrpc.pack:
// answered in one message, or refused as a whole when over MaxBatch.
func TestLongArraysAreBatchesEvenWhenPacking(t *testing.T) {
	addr := serve(t, rpc.Config{MaxBatch: 80})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/rpc", &websocket.DialOptions{Subprotocols: []string{rpc.PackSubprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	array := func(n int) []byte {
		reqs := make([]string, n)
		for i := range reqs {
			reqs[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"get_data"}`, i+1)
		}
		return []byte("[" + strings.Join(reqs, ",") + "]")
	}
	if err := conn.Write(ctx, websocket.MessageText, array(65)); err != nil {
		t.Fatal(err)
	}
	if ids := readIDs(t, ctx, conn); len(ids) != 65 {
		t.Fatalf("a 65-request array answered %d replies in its first message, want all 65 (a batch)", len(ids))
	}
	if err := conn.Write(ctx, websocket.MessageText, array(81)); err != nil {
		t.Fatal(err)
	}
	if ids := readIDs(t, ctx, conn); len(ids) != 1 || ids[0] != "null" {
		t.Fatalf("an 81-request array over MaxBatch 80: replies %v, want one refusal", ids)
	}
}

// TestOneCallersDeadlineLeavesTheStreamToTheOthers: callers share a stream;
// one whose deadlines keep expiring (before, during and after its writes)
// must not fail the others' calls. A write given the expiring context used
// to close the connection under every call in flight.
func TestOneCallersDeadlineLeavesTheStreamToTheOthers(t *testing.T) {
	// The calls given up on still run on the server and count among the
	// caller's calls in flight, which all of this test's calls share
	// (one caller): a slow server (-race) let them reach 64, and the
	// others got -32006. That limit is not what this test is about.
	c := streamClient(t, serve(t, rpc.Config{MaxCallsPerCaller: 1 << 20}))
	ctx := context.Background()
	var failed, done atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Call(ctx, "inc", []any{"k"}, nil); err != nil && failed.Add(1) == 1 {
					t.Error(err)
				}
				done.Add(1)
			}
		})
	}
	expired := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); expired++ {
		short, cancel := context.WithTimeout(ctx, time.Duration(expired%50)*time.Microsecond)
		c.Call(short, "inc", []any{"k"}, nil)
		cancel()
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || done.Load() == 0 {
		t.Fatalf("%d of %d calls with no deadline failed beside %d with short ones", failed.Load(), done.Load(), expired)
	}
}
