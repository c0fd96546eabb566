package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

// Programs on the node's machine reach the node through its local socket
// (only the node's own OS user can): a connection whose first byte is '{'
// is a program's, the others the CLI's HTTP. A program provides
// procedures, which the node registers as its own for as long as the
// connection lasts, and calls any node's, as the node itself. The server
// authorizes, limits, audits and answers retries of a provided procedure
// as of any other; this file only carries calls to the program and back.

// Limits of the programs one node serves.
const (
	MaxPrograms           = 256  // program connections at once
	MaxProvidedPerProgram = 256  // procedures one program may provide
	MaxProvided           = 1024 // procedures all programs provide together
	// MaxProgramCalls is how many calls may wait for one program's
	// answers, and how many of its own calls a program may have in flight.
	MaxProgramCalls = 1024

	programHelloTimeout = 10 * time.Second
	programCallTimeout  = 30 * time.Second // a program's call that names no timeout
)

var (
	programNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	paramNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// programs are the programs connected to one serving node.
type programs struct {
	node *Node
	net  tailnet // how a program's calls reach the tailnet: as the node

	mu       sync.Mutex
	conns    map[*lineConn]bool
	provided int
	caller   *Client
	closed   bool
}

func newPrograms(n *Node, net tailnet) *programs {
	return &programs{node: n, net: net, conns: map[*lineConn]bool{}}
}

// client is the Client programs' calls go through, made on first use.
func (ps *programs) client() *Client {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.caller == nil {
		ps.caller = &Client{port: ps.node.cfg.Port, net: ps.net, via: ViaSocket, clients: map[string]*rpc.Client{}}
	}
	return ps.caller
}

// close ends every program's connection: their procedures go with them.
func (ps *programs) close() {
	ps.mu.Lock()
	ps.closed = true
	conns := make([]*lineConn, 0, len(ps.conns))
	for lc := range ps.conns {
		conns = append(conns, lc)
	}
	caller := ps.caller
	ps.mu.Unlock()
	for _, lc := range conns {
		lc.close(errors.New("the node is stopping"))
	}
	if caller != nil {
		caller.Close()
	}
}

// serve runs one program's connection until it ends. pid is the
// program's process, from the socket's peer credentials.
func (ps *programs) serve(lc *lineConn, pid int) {
	defer lc.close(nil)
	if !ps.enter(lc) {
		lc.finish(api.Welcome{Error: rpc.Errorf(rpc.CodeTooManyRequests, "%d programs are connected already (the limit)", MaxPrograms)}, nil)
		return
	}
	defer ps.leave(lc)

	lc.conn.SetReadDeadline(time.Now().Add(programHelloTimeout))
	line, err := lc.readLine()
	if err != nil {
		lc.finish(api.Welcome{Error: rpc.Errorf(rpc.CodeInvalidRequest, "no hello line within %v: %v", programHelloTimeout, err)}, nil)
		return
	}
	lc.conn.SetReadDeadline(time.Time{})
	p, werr := ps.admit(lc, line, pid)
	if werr != nil {
		lc.finish(api.Welcome{Error: werr}, nil)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.ctx = ctx
	defer ps.withdraw(p)
	lc.send(api.Welcome{Meshrpc: api.ProgramProtocol, Node: ps.node.Name(), Provided: p.names})
	close(p.welcomed)
	p.readLoop()
}

func (ps *programs) enter(lc *lineConn) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed || len(ps.conns) >= MaxPrograms {
		return false
	}
	ps.conns[lc] = true
	return true
}

func (ps *programs) leave(lc *lineConn) {
	ps.mu.Lock()
	delete(ps.conns, lc)
	ps.mu.Unlock()
}

// admit reads a program's hello and registers what it provides.
func (ps *programs) admit(lc *lineConn, line []byte, pid int) (*program, *rpc.Error) {
	var hello api.Hello
	if err := json.Unmarshal(line, &hello); err != nil {
		return nil, rpc.Errorf(rpc.CodeParseError, "the hello line is not a JSON object: %v", err)
	}
	if hello.Meshrpc != api.ProgramProtocol {
		return nil, rpc.Errorf(rpc.CodeInvalidRequest, "the hello line must say \"meshrpc\":%q (this node speaks that protocol), not %s", api.ProgramProtocol, rpc.Quote(hello.Meshrpc, 32))
	}
	if !programNameRE.MatchString(hello.Name) {
		return nil, rpc.Errorf(rpc.CodeInvalidRequest, "program name %s: 1 to 64 letters, digits, '.', '_' or '-'", rpc.Quote(hello.Name, 64))
	}
	if len(hello.Provide) > MaxProvidedPerProgram {
		return nil, rpc.Errorf(rpc.CodeInvalidRequest, "program %s declares %d procedures; one program may provide at most %d", hello.Name, len(hello.Provide), MaxProvidedPerProgram)
	}
	p := &program{ps: ps, lc: lc, name: hello.Name, pid: pid, welcomed: make(chan struct{}),
		waiting: map[int64]chan api.ProgramResponse{}, calls: make(chan struct{}, MaxProgramCalls)}
	procs := make([]*rpc.Procedure, 0, len(hello.Provide))
	for _, decl := range hello.Provide {
		proc, err := p.procedure(decl)
		if err != nil {
			return nil, rpc.Errorf(rpc.CodeInvalidParams, "program %s: %v", hello.Name, err)
		}
		procs = append(procs, proc)
		p.names = append(p.names, proc.Name)
	}
	if len(procs) == 0 {
		return p, nil
	}
	if err := ps.register(p, procs); err != nil {
		return nil, err
	}
	fmt.Fprintf(ps.node.progress(), "meshrpc: %s provides %s\n", p, strings.Join(p.names, ", "))
	return p, nil
}

// register adds a program's procedures to the registry, all or none.
func (ps *programs) register(p *program, procs []*rpc.Procedure) *rpc.Error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.provided+len(procs) > MaxProvided {
		return rpc.Errorf(rpc.CodeTooManyRequests, "programs provide %d procedures already; %s's %d would pass the node's limit of %d", ps.provided, p, len(procs), MaxProvided)
	}
	for _, proc := range procs {
		if held, ok := ps.node.reg.Lookup(proc.Name); ok {
			by := "a procedure of this node (built in, or from its config)"
			if held.Provider != "" {
				by = "provided by " + held.Provider
			}
			return rpc.Errorf(rpc.CodeConflict, "procedure %q is taken: %s", proc.Name, by)
		}
	}
	if err := ps.node.reg.Swap(nil, procs); err != nil {
		return rpc.Errorf(rpc.CodeConflict, "%v", err)
	}
	ps.provided += len(procs)
	return nil
}

// withdraw removes a program's procedures when its connection ends; calls
// still waiting for it end with CodeUnavailable.
func (ps *programs) withdraw(p *program) {
	if len(p.names) > 0 {
		ps.mu.Lock()
		ps.node.reg.Swap(p.names, nil)
		ps.provided -= len(p.names)
		ps.mu.Unlock()
		why := "its connection closed"
		if p.lc.err != nil {
			why = p.lc.err.Error()
		}
		fmt.Fprintf(ps.node.progress(), "meshrpc: %s left (%s); %s no longer provided\n", p, why, strings.Join(p.names, ", "))
	}
	p.lc.close(nil)
}

// program is one connected program.
type program struct {
	ps    *programs
	lc    *lineConn
	name  string
	pid   int
	names []string // what it provides
	ctx   context.Context
	// welcomed closes once the welcome is on its way: a call of a
	// procedure registered a moment before waits for it, so that the
	// program's first line from the node is always the welcome.
	welcomed chan struct{}

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan api.ProgramResponse // calls sent to it, by id
	calls   chan struct{}                      // a slot per call it makes
}

func (p *program) String() string {
	if p.pid > 0 {
		return fmt.Sprintf("program %s (pid %d)", p.name, p.pid)
	}
	return "program " + p.name
}

// procedure checks one declared procedure and makes it.
func (p *program) procedure(decl api.Provided) (*rpc.Procedure, error) {
	if err := rpc.CheckMethodName(decl.Name); err != nil {
		return nil, err
	}
	if strings.HasPrefix(decl.Name, "rpc.") {
		return nil, fmt.Errorf("procedure %q: names beginning with rpc. are reserved", decl.Name)
	}
	if len(decl.Summary) > 1024 {
		return nil, fmt.Errorf("procedure %q: a summary of %d bytes (at most 1024)", decl.Name, len(decl.Summary))
	}
	if len(decl.Params) > 64 {
		return nil, fmt.Errorf("procedure %q: %d params (at most 64)", decl.Name, len(decl.Params))
	}
	seen := map[string]bool{}
	for _, prm := range decl.Params {
		if !paramNameRE.MatchString(prm.Name) || seen[prm.Name] {
			return nil, fmt.Errorf("procedure %q: param %s: each param needs its own name of letters, digits and '_'", decl.Name, rpc.Quote(prm.Name, 64))
		}
		seen[prm.Name] = true
	}
	keys := rpc.NoKey
	switch {
	case decl.KeyParam != "" && !seen[decl.KeyParam]:
		return nil, fmt.Errorf("procedure %q: key_param %s is not one of its params", decl.Name, rpc.Quote(decl.KeyParam, 64))
	case decl.KeyParam != "" && decl.KeyPrefix:
		keys = rpc.KeyPrefix
	case decl.KeyParam != "":
		keys = rpc.OneKey
	}
	if decl.TimeoutMs < 0 || decl.TimeoutMs > int64(time.Hour/time.Millisecond) {
		return nil, fmt.Errorf("procedure %q: timeout_ms %d: between 0 and an hour", decl.Name, decl.TimeoutMs)
	}
	params := decl.Params
	if params == nil {
		params = []rpc.Param{}
	}
	return &rpc.Procedure{
		Name:     decl.Name,
		Summary:  decl.Summary,
		Params:   params,
		Result:   decl.Result,
		ReadOnly: decl.ReadOnly,
		Keys:     keys,
		KeyParam: decl.KeyParam,
		Timeout:  time.Duration(decl.TimeoutMs) * time.Millisecond,
		Provider: p.String(),
		Handler:  provided{p: p, name: decl.Name, params: params},
		// ask returns when the caller's context ends.
		HonorsDeadline: true,
	}, nil
}

// provided is a procedure a program provides: the handler sends the call
// to the program and waits for its answer.
type provided struct {
	p      *program
	name   string
	params []rpc.Param
}

func (h provided) ServeRPC(ctx context.Context, raw json.RawMessage) (any, error) {
	params, err := paramsByName(h.name, h.params, raw)
	if err != nil {
		return nil, err
	}
	req := api.ProgramRequest{JSONRPC: "2.0", Method: h.name, Params: params, CallID: rpc.CallIDFrom(ctx)}
	if c, ok := rpc.CallerFrom(ctx); ok {
		req.Caller = &c
	}
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = max(1, time.Until(dl).Milliseconds())
	}
	return h.p.ask(ctx, req)
}

// ask sends req to the program and waits for its answer, the caller's
// deadline or the program's leaving.
func (p *program) ask(ctx context.Context, req api.ProgramRequest) (any, error) {
	p.mu.Lock()
	if len(p.waiting) >= MaxProgramCalls {
		p.mu.Unlock()
		return nil, rpc.Errorf(rpc.CodeTooManyRequests, "%s has %d calls waiting for its answers (the limit); try again later", p, MaxProgramCalls)
	}
	p.nextID++
	id := p.nextID
	answer := make(chan api.ProgramResponse, 1)
	p.waiting[id] = answer
	p.mu.Unlock()
	p.lc.inFlight.Add(1)
	defer func() {
		p.lc.inFlight.Add(-1)
		p.mu.Lock()
		delete(p.waiting, id)
		p.mu.Unlock()
	}()

	req.ID = strconv.AppendInt(nil, id, 10)
	select {
	case <-p.welcomed:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.lc.done:
	}
	gone := func() error {
		return rpc.Errorf(rpc.CodeUnavailable, "%s, which provides %s, went away before answering", p, req.Method)
	}
	if !p.lc.sendLine(appendRequest(make([]byte, 0, 256+len(req.Params)), &req)) {
		return nil, gone()
	}
	select {
	case res := <-answer:
		if res.Error != nil {
			return nil, res.Error
		}
		return res.Result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.lc.done:
		return nil, gone()
	}
}

// readLoop reads the program's lines until its connection ends: answers to
// the calls sent to it, and calls of its own.
func (p *program) readLoop() {
	for {
		line, err := p.lc.readLine()
		if errors.Is(err, errLineTooLong) {
			p.lc.finish(protocolError(rpc.CodeInvalidRequest, errLineTooLong.Error()+"; the node closes the connection"), err)
			return
		}
		if err != nil {
			p.lc.close(err)
			return
		}
		p.handle(line)
	}
}

func (p *program) handle(line []byte) {
	if !jsonfast.Valid(line) {
		p.lc.send(protocolError(rpc.CodeParseError, "a line that is not JSON: "+rpc.Quote(string(line), 64)))
		return
	}
	// An answer is read without reflection: it is every call's way back.
	var id, result, errObj []byte
	isCall := false
	plain := jsonfast.EachMember(line, func(key, val []byte) bool {
		switch string(key) {
		case "id":
			id = val
		case "result":
			result = val
		case "error":
			errObj = val
		case "method":
			isCall = true
		}
		return true
	})
	switch {
	case isCall || !plain:
		p.call(line)
	case id != nil:
		p.answer(id, result, errObj)
	default:
		p.lc.send(protocolError(rpc.CodeInvalidRequest, "a line that is neither a call (method) nor an answer (id)"))
	}
}

// call starts a call the program makes.
func (p *program) call(line []byte) {
	var req api.ProgramRequest
	if err := json.Unmarshal(line, &req); err != nil || req.Method == "" {
		p.lc.send(protocolError(rpc.CodeInvalidRequest, "a line that is neither a call (method) nor an answer (id)"))
		return
	}
	if len(req.ID) == 0 || string(req.ID) == "null" {
		p.lc.send(protocolError(rpc.CodeInvalidRequest, "a call needs an id, to answer it by"))
		return
	}
	select {
	case p.calls <- struct{}{}:
		go p.serveCall(req)
	default:
		p.lc.send(api.ProgramResponse{JSONRPC: "2.0", ID: req.ID, Error: rpc.Errorf(rpc.CodeTooManyRequests, "%d of your calls are in flight (the limit)", MaxProgramCalls)})
	}
}

// answer hands the program's answer to the call waiting for it.
func (p *program) answer(rawID, result, errObj []byte) {
	id, err := strconv.ParseInt(string(rawID), 10, 64)
	p.mu.Lock()
	waiting, ok := p.waiting[id]
	if ok {
		delete(p.waiting, id)
	}
	p.mu.Unlock()
	if err != nil || !ok {
		p.lc.send(protocolError(rpc.CodeInvalidRequest, fmt.Sprintf("an answer for id %s, which no call waits for (answered already, or its caller gave up)", rpc.Quote(string(rawID), 32))))
		return
	}
	var res api.ProgramResponse
	switch {
	case errObj != nil:
		if json.Unmarshal(errObj, &res.Error) != nil || res.Error == nil || res.Error.Code == 0 {
			res.Error = rpc.Errorf(rpc.CodeInternalError, "%s answered with an error object without a code: %s", p, rpc.Quote(string(errObj), 256))
		}
	case result == nil:
		res.Error = rpc.Errorf(rpc.CodeInternalError, "%s answered with neither result nor error", p)
	default:
		res.Result = result
	}
	waiting <- res
}

// serveCall makes a call the program asked for, as the node, and answers it.
func (p *program) serveCall(req api.ProgramRequest) {
	defer func() { <-p.calls }()
	timeout := programCallTimeout
	if req.TimeoutMs > 0 {
		timeout = min(time.Duration(req.TimeoutMs)*time.Millisecond, time.Hour)
	}
	ctx, cancel := context.WithTimeout(p.ctx, timeout) // p.ctx ends with the connection
	defer cancel()

	peer := req.Node
	if peer == "" {
		peer = p.ps.node.Name()
	}
	var params any
	if len(req.Params) > 0 {
		params = req.Params
	}
	var result json.RawMessage
	res := api.ProgramResponse{JSONRPC: "2.0", ID: req.ID}
	if err := p.ps.client().Call(ctx, peer, req.Method, params, &result); err != nil {
		res.Error = callError(err)
	} else {
		if len(result) == 0 {
			result = json.RawMessage("null")
		}
		res.Result = result
	}
	p.lc.send(res)
}

// callError is the error object a program gets for a call that failed.
func callError(err error) *rpc.Error {
	var e *rpc.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, mesh.ErrNoSuchNode), errors.Is(err, mesh.ErrAmbiguousName):
		return &rpc.Error{Code: rpc.CodeNotFound, Message: err.Error()}
	case errors.Is(err, mesh.ErrOffline):
		return &rpc.Error{Code: rpc.CodeUnavailable, Message: err.Error()}
	}
	return &rpc.Error{Code: rpc.CodeOf(err), Message: err.Error()}
}

// protocolError is a line telling a program what was wrong with one of its
// lines (a JSON-RPC error response with a null id).
func protocolError(code int, msg string) api.ProgramResponse {
	return api.ProgramResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpc.Error{Code: code, Message: msg}}
}

// paramsByName checks a call's params against a provided procedure's
// declaration (as Register's procedures are checked: rpc.BindParams) and
// gives them by name, so that a program always gets an object.
func paramsByName(method string, decl []rpc.Param, raw json.RawMessage) (json.RawMessage, error) {
	values, err := rpc.BindParams(method, decl, raw)
	if err != nil {
		return nil, err
	}
	obj := []byte{'{'}
	for i, v := range values {
		if v == nil {
			continue
		}
		if len(obj) > 1 {
			obj = append(obj, ',')
		}
		obj = strconv.AppendQuote(obj, decl[i].Name) // names are plain: paramNameRE
		obj = append(append(obj, ':'), v...)
	}
	return append(obj, '}'), nil
}

// servingTailnet is how a serving node's programs reach the tailnet: as
// the node, and the node itself through its own server.
type servingTailnet struct {
	ownNode
	isSelf   func(host string) bool
	dialSelf func() (net.Conn, error)
}

func (t servingTailnet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, _, err := net.SplitHostPort(addr); err == nil && t.isSelf(host) {
		return t.dialSelf()
	}
	return t.ownNode.Dial(ctx, network, addr)
}

// Close leaves the node alone: it is the node's, not the programs'.
func (t servingTailnet) Close() error { return nil }
