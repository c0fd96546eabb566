package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

// ProviderConfig says which serving node a program provides through.
type ProviderConfig struct {
	// Name is the program's name, which `meshrpc ls` shows beside what it
	// provides; default the executable's file name.
	Name string
	// StateDir is the serving node's state directory, whose socket the
	// program connects to; default $MESHRPC_STATE_DIR, else
	// mesh.DefaultStateDir(), as for Dial.
	StateDir string
}

// Provide offers the procedures of reg (made with rpc.Register or
// Registry.Handle) through the `meshrpc serve` running on this machine, as
// that node's own, until ctx ends or the node goes away. The program needs
// no tailnet node of its own: the node authorizes, limits and audits each
// call as it does its built-ins, and the handler finds the caller with
// rpc.CallerFrom and its call id with rpc.CallIDFrom. A procedure that
// declares a key (rpc:"key") is authorized on it by the node's key-scoped
// rules and grants, and gets it as granted. Calls run concurrently, up to
// MaxProgramCalls at once, each handler on a goroutine of its own as on a
// serving node: handlers must be safe for concurrent use.
//
// Provide returns nil when ctx ends, and an error when the node refuses
// the procedures (a name taken, say) or the connection ends.
func Provide(ctx context.Context, cfg ProviderConfig, reg *rpc.Registry) error {
	if cfg.Name == "" {
		cfg.Name = programName()
	}
	environment(new(string), &cfg.StateDir, new(string))
	stateDir := cfg.StateDir
	if stateDir == "" {
		d, err := mesh.DefaultStateDir()
		if err != nil {
			return err
		}
		stateDir = d
	}
	sock := filepath.Join(stateDir, SocketName)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return fmt.Errorf("node: Provide: no meshrpc serve with state dir %s is running here: %w", stateDir, err)
	}
	lc := newLineConn(conn, nil)
	defer lc.close(nil)
	stop := context.AfterFunc(ctx, func() { lc.close(ctx.Err()) })
	defer stop()

	procs := map[string]*rpc.Procedure{}
	hello := api.Hello{Meshrpc: api.ProgramProtocol, Name: cfg.Name}
	for _, p := range reg.Procedures() {
		if strings.HasPrefix(p.Name, "rpc.") {
			continue
		}
		procs[p.Name] = p
		hello.Provide = append(hello.Provide, api.Provided{Name: p.Name, Summary: p.Summary, Params: p.Params, Result: p.Result,
			ReadOnly: p.ReadOnly, KeyParam: p.KeyParam, KeyPrefix: p.Keys == rpc.KeyPrefix, TimeoutMs: p.Timeout.Milliseconds()})
	}
	if err := welcome(lc, hello); err != nil {
		return err
	}
	return serveCalls(ctx, lc, procs)
}

// serveCalls serves the calls the node sends until ctx ends (nil) or the
// connection does. Each call runs on a worker of its own; a worker that
// has answered waits for the next call rather than ending: starting a
// goroutine and growing its stack for every call was a tenth of a
// program's CPU. There are as many as calls have been in flight at once
// (the node sends at most MaxProgramCalls), and they end with the
// connection.
func serveCalls(ctx context.Context, lc *lineConn, procs map[string]*rpc.Procedure) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	work := make(chan api.ProgramRequest)
	defer close(work)
	serve := func(req api.ProgramRequest) {
		res := serveProvided(ctx, procs[req.Method], req)
		lc.sendLine(appendResponse(nil, res.ID, res.Result, res.Error))
		lc.inFlight.Add(-1)
	}
	for {
		line, err := lc.readLine()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("node: Provide: the connection to the node ended: %w", err)
		}
		req, err := decodeRequest(line)
		if err != nil || req.Method == "" {
			continue // a notice from the node about one of our lines
		}
		lc.inFlight.Add(1)
		select {
		case work <- req: // an idle worker takes it
		default:
			wg.Go(func() {
				serve(req)
				for req := range work {
					serve(req)
				}
			})
		}
	}
}

// welcome sends the hello and reads the node's answer.
func welcome(lc *lineConn, hello api.Hello) error {
	if !lc.send(hello) {
		return fmt.Errorf("node: Provide: the node closed the connection before the hello: %v", lc.err)
	}
	lc.conn.SetReadDeadline(time.Now().Add(programHelloTimeout))
	line, err := lc.readLine()
	if err != nil {
		return fmt.Errorf("node: Provide: no answer from the node: %w", err)
	}
	lc.conn.SetReadDeadline(time.Time{})
	var w api.Welcome
	if err := json.Unmarshal(line, &w); err != nil {
		return fmt.Errorf("node: Provide: the node's answer: %w", err)
	}
	if w.Error != nil {
		return fmt.Errorf("node: Provide: the node refused: %w", w.Error)
	}
	return nil
}

// serveProvided runs one call the node sent and returns its answer.
func serveProvided(ctx context.Context, proc *rpc.Procedure, req api.ProgramRequest) (res api.ProgramResponse) {
	res = api.ProgramResponse{JSONRPC: "2.0", ID: req.ID}
	if proc == nil {
		res.Error = rpc.Errorf(rpc.CodeMethodNotFound, "this program does not provide %s", rpc.Quote(req.Method, 64))
		return res
	}
	if req.Caller != nil {
		ctx = rpc.WithCaller(ctx, *req.Caller)
	}
	ctx = rpc.WithCallID(ctx, req.CallID)
	if req.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			res.Result, res.Error = nil, rpc.Errorf(rpc.CodeInternalError, "%s panicked: %v", req.Method, v)
		}
	}()
	out, err := proc.Handler.ServeRPC(ctx, req.Params)
	if err == nil {
		res.Result, err = json.Marshal(out)
	}
	if err != nil {
		var e *rpc.Error
		if !errors.As(err, &e) {
			e = &rpc.Error{Code: rpc.CodeOf(err), Message: err.Error()}
		}
		res.Result, res.Error = nil, e
	}
	return res
}

func programName() string {
	exe, err := os.Executable()
	if err != nil {
		return "go-program"
	}
	name := strings.TrimSuffix(filepath.Base(exe), ".exe")
	if !programNameRE.MatchString(name) {
		return "go-program"
	}
	return name
}
