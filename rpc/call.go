package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

// incoming is what a request body arrived with.
type incoming struct {
	ctx    context.Context
	conn   *connState
	remote string
	callID string
	// clientCallID: the client chose callID, so a retry carries it again.
	clientCallID bool
	timeout      time.Duration // asked by the client; 0 = none
}

type callIDKey struct{}

// CallIDFrom returns the id of the call ctx belongs to (also the one the
// client sent in Meshrpc-Call-Id, if any).
func CallIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}

// WithCallID makes calls made with ctx carry id, so that a retry of a call
// is recognisable as the same call.
func WithCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

type requestKeyKey struct{}

// RequestKeyFrom names the request ctx belongs to across its client's
// retries: the calling node, the call id and the JSON-RPC id. Only calls to
// procedures that change things (not ReadOnly) whose client chose the call
// id have one. The node answers a retry with the first outcome from its own
// memory while it runs; a handler that keeps this key with its effect, in
// the same transaction (the kv.* procedures do), can answer exactly a retry
// that arrives after a restart, too.
func RequestKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(requestKeyKey{}).(string)
	return k
}

func (k replayKey) String() string { return k.caller + "\x00" + k.callID + "\x00" + k.reqID }

func newCallID() string { return uuid.NewString() }

// Call ids are random UUIDs, one or two per call; a pool of random bytes
// saves a getrandom(2) for each.
func init() { uuid.EnableRandPool() }

// handleBody runs the requests of one body and appends the reply to out. It
// returns nil when nothing is to be answered (only notifications).
func (s *Server) handleBody(in incoming, body []byte, out []byte) []byte {
	reqs, batch, bodyErr := decodeBody(body, s.cfg.MaxDepth, s.cfg.MaxBatch)
	if bodyErr != nil {
		return appendResponse(out, nil, nil, bodyErr)
	}
	caller, idErr := s.callerOf(in.ctx, in.conn, in.remote)
	if !batch {
		res := s.run(in, caller, idErr, &reqs[0])
		if reqs[0].isNotification() {
			return nil
		}
		return res.append(out, reqs[0].ID)
	}
	results := make([]result, len(reqs))
	done := make(chan struct{}, len(reqs))
	for i := range reqs {
		go func() {
			results[i] = s.run(in, caller, idErr, &reqs[i])
			done <- struct{}{}
		}()
	}
	for range reqs {
		<-done
	}
	out = append(out, '[')
	n := 0
	for i := range reqs {
		if reqs[i].isNotification() {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = results[i].append(out, reqs[i].ID)
		n++
	}
	if n == 0 {
		return nil
	}
	return append(out, ']')
}

// result is the outcome of one call: its JSON result or its error. A string
// result that encodes as itself (jsonfast.Verbatim) is kept as the string and
// written between quotes straight into the reply, sparing a large result
// one encoding pass and one copy.
type result struct {
	json  []byte
	str   string
	isStr bool
	err   *Error
}

func (r result) append(out []byte, id json.RawMessage) []byte {
	if r.err == nil && r.isStr {
		out = appendEnvelope(out, id) // then one growth, unzeroed, for the string
		out = append(out, `,"result":"`...)
		out = append(out, r.str...)
		return append(out, `"}`...)
	}
	return appendResponse(out, id, r.json, r.err)
}

// size is roughly the memory the result holds.
func (r result) size() int {
	n := len(r.json) + len(r.str)
	if r.err != nil {
		n += len(r.err.Message)
	}
	return n
}

// run decides and runs one request, bounded by its deadline. Every call
// takes this one path: its method's name checked, its caller authorized
// (on the key its params name, for a procedure that declares one), the
// caller's limit taken, a retry answered with its first outcome, and only
// then the handler run.
func (s *Server) run(in incoming, caller Caller, idErr error, req *request) (res result) {
	if req.err != nil {
		return result{err: req.err}
	}
	in = in.withMeta(req.Meta)
	rec := callRecord{start: time.Now()}
	defer func() { s.record(in, caller, req, &rec, res.err) }()
	if idErr != nil {
		return result{err: &Error{Code: CodePermissionDenied, Message: fmt.Sprintf("permission denied: cannot tell who is calling from %s: %v", in.remote, idErr)}}
	}
	ctx := WithCaller(in.ctx, caller)
	ctx = context.WithValue(ctx, callIDKey{}, in.callID)
	proc, bound, grant, err := s.admit(ctx, caller, req, &rec)
	if err != nil {
		return result{err: err}
	}
	if proc.Keys != NoKey {
		ctx = context.WithValue(ctx, grantKey{}, grant)
	}
	release, ok := s.limits.acquire(limitKey(caller, in.remote))
	if !ok {
		return result{err: &Error{Code: CodeTooManyRequests, Message: fmt.Sprintf("too many calls in flight from %s (limit %d); wait for some to finish", caller.Name(), s.cfg.MaxCallsPerCaller)}}
	}
	var replay *replayEntry
	if !proc.ReadOnly && in.clientCallID {
		key := replayKey{caller: limitKey(caller, in.remote), callID: in.callID, reqID: string(req.ID)}
		ctx = context.WithValue(ctx, requestKeyKey{}, key.String())
		if !proc.AnswersRetries {
			e, first := s.replay.begin(key, rec.start)
			if !first { // a retry: the first arrival's outcome, never a second run
				defer release()
				rec.replayed = true
				return s.awaitReplay(in, e, req.Method)
			}
			replay = e
		}
	}
	return s.invokeWithin(ctx, in, proc, bound, func(res result) {
		if replay != nil {
			s.replay.finish(replay, res) // even when the caller has gone: its retry wants this
		}
		// Free the caller's slot before the reply can reach it: a caller at
		// its limit sends its next call the moment this one is answered.
		release()
	})
}

// withMeta applies a stream message's own headers, and gives the call an
// id if it still has none (only now: ids cost a syscall).
func (in incoming) withMeta(m *requestMeta) incoming {
	if m != nil {
		if m.CallID != "" && len(m.CallID) <= 128 {
			in.callID, in.clientCallID = m.CallID, true
		}
		if m.TimeoutMs > 0 {
			in.timeout = parseTimeout(strconv.FormatInt(m.TimeoutMs, 10))
		}
	}
	if in.callID == "" {
		in.callID = newCallID()
	}
	return in
}

// admit decides whether the call may run, in one place: its method's name,
// the caller's right to call it at all (before its params are read, so a
// caller that may not call a method learns nothing of them), its params
// bound once, and, for a procedure that declares a key, the caller's right
// to that key. It returns the procedure, the bound call and the grant, and
// notes the key in rec, granted or denied.
func (s *Server) admit(ctx context.Context, caller Caller, req *request, rec *callRecord) (*Procedure, boundCall, Grant, *Error) {
	if err := CheckMethodName(req.Method); err != nil {
		return nil, nil, Grant{}, &Error{Code: CodeInvalidRequest, Message: "invalid request: " + err.Error()}
	}
	proc, found := s.cfg.Registry.Lookup(req.Method)
	access := Access{Method: req.Method}
	if found {
		access.Keys = proc.Keys
	}
	if _, err := s.authorize(ctx, caller, access); err != nil {
		return nil, nil, Grant{}, err
	}
	if !found {
		lister := "rpc.discover lists them"
		if s.cfg.NodeName != "" {
			lister = fmt.Sprintf("meshrpc ls %s lists the ones you may call", s.cfg.NodeName)
		}
		return nil, nil, Grant{}, &Error{Code: CodeMethodNotFound, Message: fmt.Sprintf("method not found: %s has no procedure %q; %s", s.nodeName(), req.Method, lister)}
	}
	bound, err := proc.start(req.Params)
	if err != nil {
		return nil, nil, Grant{}, toError(err)
	}
	switch proc.Keys {
	case NoKey:
		return proc, bound, Grant{}, nil
	case EachKey:
		if err := s.admitEach(ctx, caller, access, bound.(eachKeyCall), rec); err != nil {
			return nil, nil, Grant{}, err
		}
		return proc, bound, Grant{}, nil
	}
	access.Key, access.KeyKnown = bound.key(), true
	grant, aerr := s.authorize(ctx, caller, access)
	if aerr != nil {
		if aerr.Code == CodePermissionDenied && len(access.Key) <= maxRecordedKey {
			rec.key = access.Key // what was refused, as sent
		}
		return nil, nil, Grant{}, aerr
	}
	bound.setKey(grant.Key)
	rec.key, rec.under = grant.Key, grant.Key
	return proc, bound, grant, nil
}

// authorize asks Config.Authorize; without one, every call is allowed, on
// the key as sent.
func (s *Server) authorize(ctx context.Context, caller Caller, a Access) (Grant, *Error) {
	if s.cfg.Authorize == nil {
		return Grant{Key: a.Key}, nil
	}
	g, err := s.cfg.Authorize(ctx, caller, a)
	if err != nil {
		return Grant{}, toError(err)
	}
	if a.KeyKnown && g.Key == "" {
		g.Key = a.Key
	}
	return g, nil
}

// invokeWithin runs the bound call within the call's timeout, calling done
// with its outcome even when the caller has stopped waiting for it. A
// handler that may overstay its context runs on a goroutine of its own; one
// that HonorsDeadline runs on the caller's.
func (s *Server) invokeWithin(ctx context.Context, in incoming, proc *Procedure, bound boundCall, done func(result)) result {
	timeout := s.cfg.DefaultTimeout
	if proc.Timeout > 0 {
		timeout = proc.Timeout
	}
	if in.timeout > 0 && in.timeout < timeout {
		timeout = in.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	s.inflight.Add(1)
	if proc.HonorsDeadline {
		res := s.invoke(ctx, proc.Name, bound)
		if res.err != nil && ctx.Err() != nil {
			res = ended(in, proc, timeout)
		}
		done(res)
		s.inflight.Add(-1)
		return res
	}
	resc := make(chan result, 1)
	go func() {
		res := s.invoke(ctx, proc.Name, bound) // it recovers the handler's panics
		done(res)
		s.inflight.Add(-1)
		resc <- res
	}()
	select {
	case res := <-resc:
		return res
	case <-ctx.Done():
		return ended(in, proc, timeout)
	}
}

// ended is the outcome of a call whose context ended before its handler
// answered: the caller left, or the deadline passed.
func ended(in incoming, proc *Procedure, timeout time.Duration) result {
	if in.ctx.Err() != nil {
		return result{err: &Error{Code: CodeUnavailable, Message: "the caller went away"}}
	}
	return result{err: &Error{Code: CodeDeadlineExceeded, Message: fmt.Sprintf("deadline exceeded: %s did not finish within %v", proc.Name, timeout)}}
}

// invoke runs the handler, turning panics and errors into results.
func (s *Server) invoke(ctx context.Context, method string, bound boundCall) (res result) {
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Logger.Error("handler panic", "method", method, "call_id", CallIDFrom(ctx), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res = result{err: &Error{Code: CodeInternalError, Message: fmt.Sprintf("internal error in %s (call id %s); the node's log has the details", method, CallIDFrom(ctx))}}
		}
	}()
	v, err := bound.run(ctx)
	if err != nil {
		return result{err: toError(err)}
	}
	switch v := v.(type) {
	case string:
		if jsonfast.Verbatim(v) {
			return result{str: v, isStr: true}
		}
	case json.RawMessage: // as a program answered: kept as it is when it is already what Marshal would make
		if valid, compact := jsonfast.Check(v); valid && compact {
			return result{json: v}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return result{err: &Error{Code: CodeInternalError, Message: fmt.Sprintf("internal error: the result of %s does not marshal to JSON: %v", method, err)}}
	}
	return result{json: b}
}

func (s *Server) nodeName() string {
	if s.cfg.NodeName != "" {
		return s.cfg.NodeName
	}
	return "this node"
}

// awaitReplay answers a retried call with the first arrival's outcome.
func (s *Server) awaitReplay(in incoming, e *replayEntry, method string) result {
	ctx, cancel := context.WithTimeout(in.ctx, s.cfg.DefaultTimeout)
	defer cancel()
	if res, ok := e.wait(ctx); ok {
		return res
	}
	return result{err: &Error{Code: CodeDeadlineExceeded, Message: fmt.Sprintf("deadline exceeded: the first attempt of this %s call (id %s) is still running", method, in.callID)}}
}

// maxRecordedKey bounds a refused key kept in a call's record.
const maxRecordedKey = 1024

// callRecord is what run learns of a call for its record.
type callRecord struct {
	start    time.Time
	key      string // the granted key, for a procedure that declares one
	under    string // what every key granted begins with (CallRecord.Under)
	replayed bool
}

// record logs a call and hands it to Config.Observe. A method name that is
// not a valid name is recorded only in a bounded, quoted form.
func (s *Server) record(in incoming, c Caller, req *request, cr *callRecord, err *Error) {
	d := time.Since(cr.start)
	method := req.Method
	if err != nil && err.Code == CodeInvalidRequest && CheckMethodName(method) != nil {
		method = Quote(method, 64)
	}
	if s.cfg.Observe != nil {
		r := &CallRecord{Time: cr.start, CallID: in.callID, Caller: c, Method: method, Key: cr.key, Under: cr.under, Duration: d, Replayed: cr.replayed}
		if err != nil {
			r.Code, r.Message = err.Code, err.Message
		}
		s.cfg.Observe(r)
	}
	if s.cfg.NoCallLog || !s.cfg.Logger.Enabled(in.ctx, slog.LevelInfo) {
		return
	}
	outcome, code := "ok", 0
	if err != nil {
		outcome, code = err.Message, err.Code
	}
	s.cfg.Logger.Info("call", "call_id", in.callID, "caller", c.Name(), "login", c.Login, "method", method,
		"duration", d, "code", code, "outcome", outcome, "replayed", cr.replayed)
}
