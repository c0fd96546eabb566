package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

type greetParams struct {
	Name string `json:"name"`
}

// TestGoProgramProvides: a Go program with no tailnet node of its own
// offers a procedure through the serving node; a peer calls it as any
// other, the program learns who called, ls names the program, and the
// procedure goes when the program does.
func TestGoProgramProvides(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := filepath.Join(t.TempDir(), "home")
	home := startNode(t, dn, node.Config{Hostname: "home", StateDir: dir, InMemory: true})
	cafe := dialAs(t, dn, "cafe")

	reg := rpc.NewRegistry()
	rpc.Register(reg, "greet", "Greets name.", func(ctx context.Context, p greetParams) (string, error) {
		c, _ := rpc.CallerFrom(ctx)
		return fmt.Sprintf("hello %s, from %s", p.Name, c.Node), nil
	})
	ctx, stop := context.WithCancel(context.Background())
	provided := make(chan error, 1)
	go func() { provided <- node.Provide(ctx, node.ProviderConfig{Name: "greeter", StateDir: dir}, reg) }()
	waitProvided(t, home, "greet", true)

	var got string
	if err := cafe.Call(context.Background(), "home", "greet", []any{"ann"}, &got); err != nil || got != "hello ann, from cafe" {
		t.Fatalf("greet: %q, %v", got, err)
	}
	// Many calls in flight on the one connection, answered out of order.
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for j := range 20 {
				name := fmt.Sprintf("n%d-%d", i, j)
				var got string
				if err := cafe.Call(context.Background(), "home", "greet", map[string]string{"name": name}, &got); err != nil || got != "hello "+name+", from cafe" {
					t.Errorf("greet %s: %q, %v", name, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	var allowed []api.Allowed
	if err := cafe.Call(context.Background(), "home", authz.AllowedMethod, nil, &allowed); err != nil {
		t.Fatal(err)
	}
	if p := findAllowed(allowed, "greet"); p == nil || !strings.HasPrefix(p.Provider, "program greeter (pid ") {
		t.Fatalf("rpc.allowed's greet: %+v", p)
	}

	stop()
	if err := <-provided; err != nil {
		t.Fatalf("Provide after its context ended: %v", err)
	}
	waitProvided(t, home, "greet", false)
	err := cafe.Call(context.Background(), "home", "greet", []any{"ann"}, &got)
	if rpc.CodeOf(err) != rpc.CodeMethodNotFound {
		t.Fatalf("greet after the program left: %v", err)
	}
}

func findAllowed(list []api.Allowed, name string) *api.Allowed {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func waitProvided(t *testing.T, n *node.Node, name string, want bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, func() error {
		if _, ok := n.Registry().Lookup(name); ok != want {
			return fmt.Errorf("%s registered: %v, want %v", name, ok, want)
		}
		return nil
	})
}

// rawProgram is a program speaking the protocol by hand, as a program in
// any language would.
type rawProgram struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func connectProgram(t *testing.T, dir, hello string) (*rawProgram, api.Welcome) {
	t.Helper()
	var conn net.Conn
	poll.Until(t, 10*time.Second, func() (err error) { // Serve makes the socket on its way up
		conn, err = net.Dial("unix", filepath.Join(dir, node.SocketName))
		return err
	})
	t.Cleanup(func() { conn.Close() })
	p := &rawProgram{t: t, conn: conn, r: bufio.NewReader(conn)}
	p.send(hello)
	var w api.Welcome
	p.read(&w)
	return p, w
}

func (p *rawProgram) send(line string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(line + "\n")); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawProgram) read(v any) {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := p.r.ReadBytes('\n')
	if err != nil {
		p.t.Fatalf("reading the node's line: %v", err)
	}
	if err := json.Unmarshal(line, v); err != nil {
		p.t.Fatalf("the node's line %s: %v", line, err)
	}
}

// request reads the next call the node sends.
func (p *rawProgram) request() api.ProgramRequest {
	p.t.Helper()
	var req api.ProgramRequest
	p.read(&req)
	if req.Method == "" {
		p.t.Fatalf("expected a call, got %+v", req)
	}
	return req
}

// notice reads the next error line the node sends about our lines.
func (p *rawProgram) notice() *rpc.Error {
	p.t.Helper()
	var res api.ProgramResponse
	p.read(&res)
	if res.Error == nil || string(res.ID) != "null" {
		p.t.Fatalf("expected an error line with id null, got %+v", res)
	}
	return res.Error
}

// slowProgram connects a program providing slow.echo, and ends it (and
// waits until its procedure is gone) when the test ends.
func slowProgram(t *testing.T, dir string, home *node.Node) *rawProgram {
	t.Helper()
	p, w := connectProgram(t, dir, slowHello)
	if w.Error != nil || len(w.Provided) != 1 {
		t.Fatalf("welcome: %+v", w)
	}
	t.Cleanup(func() {
		p.conn.Close()
		waitProvided(t, home, "slow.echo", false)
	})
	return p
}

const slowHello = `{"meshrpc":"program/1","name":"slow","provide":[{"name":"slow.echo","params":[{"name":"text","required":true,"schema":{"type":"string"}}]}]}`

// TestProgramProtocolHoldsAgainstBadPrograms plays each kind of bad or
// unlucky program against a serving node, over the real socket, with a
// real tailnet peer calling.
func TestProgramProtocolHoldsAgainstBadPrograms(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := filepath.Join(t.TempDir(), "home")
	home := startNode(t, dn, node.Config{Hostname: "home", StateDir: dir, InMemory: true})
	cafe := dialAs(t, dn, "cafe")
	ctx := context.Background()

	t.Run("refused hellos", func(t *testing.T) {
		many := make([]string, 10_000)
		for i := range many {
			many[i] = fmt.Sprintf(`{"name":"p%d"}`, i)
		}
		for hello, want := range map[string]string{
			`{"meshrpc":"program/9","name":"x"}`:                                                               `must say "meshrpc":"program/1"`,
			`{"meshrpc":"program/1","name":""}`:                                                                "program name",
			`{"meshrpc":"program/1","name":"x","provide":[{"name":"sys.ping"}]}`:                               `"sys.ping" is taken: a procedure of this node`,
			`{"meshrpc":"program/1","name":"x","provide":[{"name":"rpc.mine"}]}`:                               "reserved",
			`{"meshrpc":"program/1","name":"x","provide":[{"name":"a","params":[{"name":"k"},{"name":"k"}]}]}`: "its own name",
			`{"meshrpc":"program/1","name":"x","provide":[` + strings.Join(many, ",") + `]}`:                   "declares 10000 procedures; one program may provide at most 256",
			`{"meshrpc":`: "not a JSON object",
		} {
			_, w := connectProgram(t, dir, hello)
			if w.Error == nil || !strings.Contains(w.Error.Message, want) {
				t.Errorf("hello %.60s: %+v, want an error saying %q", hello, w.Error, want)
			}
		}
		first, w := connectProgram(t, dir, slowHello)
		if w.Error != nil {
			t.Fatal(w.Error)
		}
		_, w = connectProgram(t, dir, slowHello)
		if w.Error == nil || !strings.Contains(w.Error.Message, `"slow.echo" is taken: provided by program slow (pid `) {
			t.Errorf("a second program taking slow.echo: %+v", w.Error)
		}
		first.conn.Close()
		waitProvided(t, home, "slow.echo", false)
	})

	t.Run("calls carry the caller, answers go back by id", func(t *testing.T) {
		p := slowProgram(t, dir, home)
		errc := make(chan error, 1)
		var got string
		go func() { errc <- cafe.Call(ctx, "home", "slow.echo", []any{"hi"}, &got) }()
		req := p.request()
		if string(req.Params) != `{"text":"hi"}` || req.Caller == nil || req.Caller.Node != "cafe" || req.TimeoutMs <= 0 || req.CallID == "" {
			t.Fatalf("the call as the program sees it: %+v caller %+v", req, req.Caller)
		}
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"hi back"}`, req.ID))
		if err := <-errc; err != nil || got != "hi back" {
			t.Fatalf("call: %q, %v", got, err)
		}
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"twice"}`, req.ID)) // answered twice
		if e := p.notice(); !strings.Contains(e.Message, "which no call waits for") {
			t.Errorf("second answer: %v", e)
		}
		p.send(`{"jsonrpc":"2.0","id":999,"result":1}`)
		if e := p.notice(); !strings.Contains(e.Message, "which no call waits for") {
			t.Errorf("answer to an unknown id: %v", e)
		}
		p.send(`not json at all`)
		if e := p.notice(); e.Code != rpc.CodeParseError {
			t.Errorf("garbage: %v", e)
		}
		// Bad params never reach the program.
		err := cafe.Call(ctx, "home", "slow.echo", map[string]any{"txt": "hi"}, nil)
		if rpc.CodeOf(err) != rpc.CodeInvalidParams || !strings.Contains(err.Error(), `unknown param "txt"; slow.echo takes: text`) {
			t.Errorf("misnamed param: %v", err)
		}
		// Errors travel back with their code.
		go func() { errc <- cafe.Call(ctx, "home", "slow.echo", map[string]any{"text": "x"}, nil) }()
		req = p.request()
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32002,"message":"no such text"}}`, req.ID))
		if err := <-errc; rpc.CodeOf(err) != rpc.CodeNotFound || !strings.Contains(err.Error(), "no such text") {
			t.Errorf("the program's error: %v", err)
		}
	})

	t.Run("a program that never answers costs the caller its deadline", func(t *testing.T) {
		p := slowProgram(t, dir, home)
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err := cafe.Call(callCtx, "home", "slow.echo", []any{"hi"}, nil)
		if code := rpc.CodeOf(err); code != rpc.CodeDeadlineExceeded {
			t.Fatalf("unanswered call: %v", err)
		}
		req := p.request()
		if req.TimeoutMs > 1000 {
			t.Errorf("timeout_ms %d, want the caller's second or less", req.TimeoutMs)
		}
		// The program answers after the deadline it was given (and the
		// node's moment to notice it) has passed.
		time.Sleep(time.Duration(req.TimeoutMs)*time.Millisecond + 200*time.Millisecond)
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"late"}`, req.ID))
		if e := p.notice(); !strings.Contains(e.Message, "which no call waits for") {
			t.Errorf("late answer: %v", e)
		}
	})

	t.Run("a program that stops reading costs each caller no more than its deadline", func(t *testing.T) {
		// Its procedure's own timeout is a second; the callers set none.
		p, w := connectProgram(t, dir, `{"meshrpc":"program/1","name":"deaf","provide":[{"name":"deaf.echo","timeout_ms":1000,"params":[{"name":"text","schema":{"type":"string"}}]}]}`)
		if w.Error != nil {
			t.Fatal(w.Error)
		}
		t.Cleanup(func() { p.conn.Close(); waitProvided(t, home, "deaf.echo", false) })
		// Another program on the machine fills deaf's socket with calls,
		// 480 KiB, more than twice what a unix socket holds (208 KiB by
		// default); a peer calls too. (The bulk goes through the node's
		// socket rather than the tailnet, whose TCP can stall for seconds
		// under a loaded machine's bursts.)
		filler, w := connectProgram(t, dir, `{"meshrpc":"program/1","name":"filler"}`)
		if w.Error != nil {
			t.Fatal(w.Error)
		}
		big := strings.Repeat("x", 96<<10)
		const calls = 5
		start := time.Now()
		for i := range calls {
			filler.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"deaf.echo","params":{"text":%q}}`, i, big))
		}
		peer := make(chan error, 1)
		go func() { peer <- cafe.Call(ctx, "home", "deaf.echo", []any{"hi"}, nil) }()
		for range calls {
			var res api.ProgramResponse
			filler.read(&res)
			if res.Error == nil || res.Error.Code != rpc.CodeDeadlineExceeded {
				t.Errorf("a local program's call to a program that does not read: %+v", res)
			}
		}
		if err := <-peer; rpc.CodeOf(err) != rpc.CodeDeadlineExceeded {
			t.Errorf("a peer's call to a program that does not read: %v", err)
		}
		// The callers are answered at their calls' 1 s deadline, not when
		// the node gives up writing to the program (10 s); 9 s leaves a
		// loaded machine room without letting that pass.
		if d := time.Since(start); d > 9*time.Second {
			t.Errorf("the callers got their answers after %v, want about the procedure's 1 s timeout", d)
		}
	})

	t.Run("a program that leaves mid-call", func(t *testing.T) {
		p := slowProgram(t, dir, home)
		errc := make(chan error, 1)
		go func() { errc <- cafe.Call(ctx, "home", "slow.echo", []any{"hi"}, nil) }()
		p.request()
		p.conn.Close()
		err := <-errc
		if rpc.CodeOf(err) != rpc.CodeUnavailable || !strings.Contains(err.Error(), "went away before answering") {
			t.Fatalf("call in flight when the program left: %v", err)
		}
		waitProvided(t, home, "slow.echo", false)
		// It comes back, and takes its name back.
		p = slowProgram(t, dir, home)
		go func() { errc <- cafe.Call(ctx, "home", "slow.echo", []any{"again"}, nil) }()
		req := p.request()
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":null}`, req.ID))
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a line past the limit ends the connection", func(t *testing.T) {
		p := slowProgram(t, dir, home)
		chunk := strings.Repeat("x", 1<<20)
		for range node.MaxProgramLine>>20 + 2 {
			if _, err := p.conn.Write([]byte(chunk)); err != nil {
				break // the node closed it
			}
		}
		waitProvided(t, home, "slow.echo", false)
		var pong string
		if err := cafe.Call(ctx, "home", "sys.ping", nil, &pong); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a program calls nodes as the node", func(t *testing.T) {
		p, w := connectProgram(t, dir, `{"meshrpc":"program/1","name":"caller"}`)
		if w.Node != "home" {
			t.Fatalf("welcome: %+v", w)
		}
		p.send(`{"jsonrpc":"2.0","id":"a","method":"sys.whoami"}`)
		var res struct {
			ID     string
			Result rpc.Caller
			Error  *rpc.Error
		}
		p.read(&res)
		if res.ID != "a" || res.Error != nil || res.Result.Node != "home" {
			t.Fatalf("sys.whoami of this node: %+v", res)
		}
		p.send(`{"jsonrpc":"2.0","id":"b","method":"sys.ping","node":"nas"}`)
		p.read(&res)
		if res.ID != "b" || res.Error == nil || res.Error.Code != rpc.CodeNotFound {
			t.Fatalf("a call to a node that is not there: %+v", res)
		}
	})
}

// TestProvidedProceduresObeyTheRules: the node decides a provided
// procedure's calls as its own, before the program hears of them.
func TestProvidedProceduresObeyTheRules(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := filepath.Join(t.TempDir(), "home")
	home := startNode(t, dn, node.Config{Hostname: "home", StateDir: dir, InMemory: true, Allow: []string{"node:cafe=sys.ping,slow.*"}})
	cafe := dialAs(t, dn, "cafe")
	phone := dialAs(t, dn, "phone")
	p := slowProgram(t, dir, home)

	err := phone.Call(context.Background(), "home", "slow.echo", []any{"hi"}, nil)
	if rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Fatalf("phone, allowed nothing: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cafe.Call(context.Background(), "home", "slow.echo", []any{"from cafe"}, nil) }()
	req := p.request() // the first call the program hears of is cafe's
	if req.Caller.Node != "cafe" {
		t.Fatalf("the program heard of %s's call first", req.Caller.Node)
	}
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":true}`, req.ID))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestProgramsAreBounded: a flood of program connections is refused past
// MaxPrograms, with a reason, and the node keeps serving.
func TestProgramsAreBounded(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	dir := filepath.Join(t.TempDir(), "home")
	startNode(t, dn, node.Config{Hostname: "home", StateDir: dir, InMemory: true})
	for i := range node.MaxPrograms {
		if _, w := connectProgram(t, dir, `{"meshrpc":"program/1","name":"idle"}`); w.Error != nil {
			t.Fatalf("program %d: %v", i, w.Error)
		}
	}
	_, w := connectProgram(t, dir, `{"meshrpc":"program/1","name":"one-more"}`)
	if w.Error == nil || w.Error.Code != rpc.CodeTooManyRequests {
		t.Fatalf("program %d: %+v", node.MaxPrograms+1, w)
	}
	cafe := dialAs(t, dn, "cafe")
	if err := cafe.Call(context.Background(), "home", "sys.ping", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestProvidedKeysObeyKeyScopes: a program's procedure that declares its
// key param is authorized on the key, as kv.* are; one that declares none is
// never allowed by a key-scoped rule.
func TestProvidedKeysObeyKeyScopes(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	dir := filepath.Join(t.TempDir(), "home")
	home := startNode(t, dn, node.Config{Hostname: "home", StateDir: dir, InMemory: true, Allow: []string{"node:cafe=notes.*@shared/*", "node:laptop=notes.*"}})
	cafe := dialAs(t, dn, "cafe")
	p, w := connectProgram(t, dir, `{"meshrpc":"program/1","name":"notes","provide":[`+
		`{"name":"notes.read","params":[{"name":"key","required":true,"schema":{"type":"string"}}],"key_param":"key"},`+
		`{"name":"notes.count"}]}`)
	if w.Error != nil {
		t.Fatal(w.Error)
	}
	defer func() { p.conn.Close(); waitProvided(t, home, "notes.read", false) }()
	ctx := context.Background()

	errc := make(chan error, 1)
	go func() { errc <- cafe.Call(ctx, "home", "notes.read", []any{"shared/a"}, nil) }()
	req := p.request()
	if string(req.Params) != `{"key":"shared/a"}` {
		t.Fatalf("the program got params %s", req.Params)
	}
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"a note"}`, req.ID))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct {
		method string
		params any
	}{
		{"notes.read", []any{"private/b"}}, // outside the scope
		{"notes.count", nil},               // declares no key: a scoped rule never allows it
	} {
		err := cafe.Call(ctx, "home", call.method, call.params, nil)
		if rpc.CodeOf(err) != rpc.CodePermissionDenied {
			t.Errorf("%s %v: %v; want permission denied", call.method, call.params, err)
		}
	}
	// Nothing of the denied calls reached the program: the next line it
	// gets is this call from laptop, which an unscoped rule allows.
	go func() { errc <- dialAs(t, dn, "laptop").Call(ctx, "home", "notes.count", nil, nil) }()
	if req := p.request(); req.Method != "notes.count" || req.Caller.Node != "laptop" {
		t.Fatalf("the program got %+v", req)
	} else {
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":1}`, req.ID))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
