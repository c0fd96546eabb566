package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

// ErrUnavailable matches (errors.Is) a TransportError for a request that
// was never sent: it is safe to retry.
var ErrUnavailable = errors.New("unavailable")

// TransportError is a call that got no JSON-RPC answer: the peer could not be
// reached, or the connection failed. Sent tells whether the request may have
// reached the peer (then a retry could run it twice).
type TransportError struct {
	Addr   string
	Method string
	Sent   bool
	Err    error
}

func (e *TransportError) Error() string {
	if e.Sent {
		return fmt.Sprintf("calling %s on %s: no reply: %v", e.Method, e.Addr, e.Err)
	}
	return fmt.Sprintf("calling %s on %s: unreachable: %v", e.Method, e.Addr, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true for requests never sent.
func (e *TransportError) Is(target error) bool { return target == ErrUnavailable && !e.Sent }

// ClientConfig configures a Client.
type ClientConfig struct {
	// Addr is the peer's host:port, e.g. "home:4343".
	Addr string
	// Dial connects to the peer; nil uses a net.Dialer. Pass mesh's Dial to
	// call over the tailnet.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxConns bounds connections kept open to the peer; default 64.
	MaxConns int
	// Stream makes Call use one WebSocket stream to the peer for all calls,
	// multiplexed, instead of an HTTP request per call: faster for many
	// calls, one round trip more for a single one. Deadlines are then
	// enforced by the client; the server applies its own limit. A request
	// of 64 KiB or more is still sent as a POST, which carries a large
	// body more cheaply.
	Stream bool
	// Retries is how many times Call tries again after a transport failure
	// (no reply: the connection failed or broke), with backoff, within the
	// call's deadline. Every attempt carries the same call id, and servers
	// answer a retry of a call that changes things with its first outcome,
	// so a retried kv.inc whose reply was lost counts once, even when the
	// node restarted in between (the store keeps the request with the
	// write; other procedures' outcomes live in the running node's
	// memory). Default 0.
	Retries int
}

// Client calls one peer's procedures. It is safe for concurrent use and
// keeps connections open for reuse; Close releases them.
type Client struct {
	url    string
	addr   string
	hc     *http.Client
	tr     *http.Transport
	nextID atomic.Int64

	useStream bool
	retries   int
	streamMu  sync.Mutex
	stream    *stream
}

// NewClient returns a client for the peer at cfg.Addr.
func NewClient(cfg ClientConfig) *Client {
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = 64
	}
	tr := &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{
		url:  "http://" + cfg.Addr + "/rpc",
		addr: cfg.Addr,
		hc:   &http.Client{Transport: tr},
		tr:   tr,

		useStream: cfg.Stream,
		retries:   cfg.Retries,
	}
}

// Close closes the client's stream and idle connections.
func (c *Client) Close() error {
	c.closeStream(false)
	c.tr.CloseIdleConnections()
	return nil
}

// CloseNow is Close for a peer known to be gone (the tailnet reports it
// offline): the stream is dropped without a closing handshake, so the
// calls waiting on it fail at once rather than after the handshake's
// timeout.
func (c *Client) CloseNow() error {
	c.closeStream(true)
	c.tr.CloseIdleConnections()
	return nil
}

// Call calls method with params and decodes the result into result (a
// pointer; nil discards it). params may be nil, a struct or map (by name), a
// slice (by position) or a json.RawMessage. A JSON-RPC error comes back as an
// *Error; a failure to get any answer as a *TransportError.
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	if CallIDFrom(ctx) == "" { // one id for every attempt
		ctx = WithCallID(ctx, newCallID())
	}
	id := c.nextID.Add(1)
	r, err := c.callOnce(ctx, id, method, params)
	for attempt := 0; c.retry(ctx, err, attempt); attempt++ {
		r, err = c.callOnce(ctx, id, method, params)
	}
	if err != nil {
		return err
	}
	if r.Error != nil {
		return r.Error
	}
	if result != nil && len(r.Result) > 0 {
		if err := decodeResult(r, result); err != nil {
			return fmt.Errorf("calling %s on %s: decoding the result into %T: %w", method, c.addr, result, err)
		}
	}
	return nil
}

// callOnce makes one attempt of a call.
func (c *Client) callOnce(ctx context.Context, id int64, method string, params any) (response, error) {
	var meta *requestMeta
	if c.useStream {
		meta = metaFrom(ctx)
	}
	body, err := encodeRequest(nil, id, method, params, meta)
	if err != nil {
		return response{}, err
	}
	if c.useStream && len(body) < streamRequestLimit {
		return c.callStream(ctx, id, method, body)
	}
	resp, err := c.post(ctx, method, body) // its "meshrpc" member says what the headers say
	if err != nil {
		return response{}, err
	}
	r, err := decodeResponse(resp)
	if err != nil {
		return response{}, &TransportError{Addr: c.addr, Method: method, Sent: true, Err: fmt.Errorf("malformed reply: %w", err)}
	}
	return r, nil
}

// streamRequestLimit is the size from which a request goes by POST even
// when the client streams. A WebSocket client must mask what it sends, and
// coder/websocket writes a masked frame into the connection 4 KiB at a
// time, where net/http writes a body 32 KiB at a time: a 512 KiB kv.put
// cost the serving node 1.3 ms more CPU over the stream (6.5 against
// 5.15 ms, `meshrpc serve` in its own process) and moved a third less per
// second. A large request gains nothing from sharing a message, and
// replies, which the server writes unmasked, stay on the stream.
const streamRequestLimit = 64 << 10

// retry reports whether to try again after err, having waited the backoff
// (50 ms, doubling, at most 1 s) if so.
func (c *Client) retry(ctx context.Context, err error, attempt int) bool {
	var te *TransportError
	if attempt >= c.retries || !errors.As(err, &te) || ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(min(50*time.Millisecond<<attempt, time.Second))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Notify sends a notification: method runs, and nothing is answered.
func (c *Client) Notify(ctx context.Context, method string, params any) error {
	body, err := encodeRequest(nil, 0, method, params, nil)
	if err != nil {
		return err
	}
	_, err = c.post(ctx, method, body)
	return err
}

// BatchCall is one call of a Batch. Error holds its JSON-RPC error.
type BatchCall struct {
	Method string
	Params any
	Result any // pointer to decode into; nil discards
	Error  *Error
}

// Batch sends calls in one request; each call's outcome lands in its Result
// or Error. The returned error is for the batch as a whole.
func (c *Client) Batch(ctx context.Context, calls []*BatchCall) error {
	if len(calls) == 0 {
		return nil
	}
	body := []byte{'['}
	first := c.nextID.Add(int64(len(calls))) - int64(len(calls)) + 1
	var err error
	for i, call := range calls {
		if i > 0 {
			body = append(body, ',')
		}
		if body, err = encodeRequest(body, first+int64(i), call.Method, call.Params, nil); err != nil {
			return err
		}
	}
	body = append(body, ']')
	resp, err := c.post(ctx, "batch", body)
	if err != nil {
		return err
	}
	var rs []response
	if err := json.Unmarshal(resp, &rs); err != nil {
		var single response // a batch refused as a whole
		if json.Unmarshal(resp, &single) == nil && single.Error != nil {
			return single.Error
		}
		return &TransportError{Addr: c.addr, Method: "batch", Sent: true, Err: fmt.Errorf("malformed reply: %w", err)}
	}
	for _, r := range rs {
		n, err := strconv.ParseInt(string(r.ID), 10, 64)
		if err != nil || n < first || n >= first+int64(len(calls)) {
			continue
		}
		call := calls[n-first]
		call.Error = r.Error
		if r.Error == nil && call.Result != nil {
			if err := json.Unmarshal(r.Result, call.Result); err != nil {
				call.Error = &Error{Code: CodeInternalError, Message: "decoding the result: " + err.Error()}
			}
		}
	}
	return nil
}

type response struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`

	// plain: Result is a JSON string without escapes or control
	// characters, as splitResponse found while passing over it.
	plain bool
}

func (c *Client) post(ctx context.Context, method string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("calling %s on %s: %w", method, c.addr, err)
	}
	req.Header["Content-Type"] = []string{"application/json"}
	meta := metaFrom(ctx)
	req.Header[HeaderCallID] = []string{meta.CallID}
	if meta.TimeoutMs > 0 {
		req.Header[HeaderTimeout] = []string{strconv.FormatInt(meta.TimeoutMs, 10)}
	}
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { sent.Store(true) },
	}))
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("calling %s on %s: %w", method, c.addr, ctx.Err())
		}
		return nil, &TransportError{Addr: c.addr, Method: method, Sent: sent.Load(), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &TransportError{Addr: c.addr, Method: method, Sent: true, Err: err}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return data, nil
	case http.StatusNoContent:
		return nil, nil
	}
	var r response
	if json.Unmarshal(data, &r) == nil && r.Error != nil {
		return nil, r.Error
	}
	return nil, &TransportError{Addr: c.addr, Method: method, Sent: true, Err: fmt.Errorf("HTTP %s", resp.Status)}
}

// metaFrom is the call id (from WithCallID, else a new one) and remaining
// time of a call made with ctx.
func metaFrom(ctx context.Context) *requestMeta {
	m := &requestMeta{}
	m.CallID, _ = ctx.Value(callIDKey{}).(string)
	if m.CallID == "" {
		m.CallID = newCallID()
	}
	if dl, ok := ctx.Deadline(); ok {
		m.TimeoutMs = max(time.Until(dl).Milliseconds(), 1)
	}
	return m
}

// encodeRequest appends a request (a notification when id is 0) to buf,
// with meta as its "meshrpc" member when given (on a stream).
func encodeRequest(buf []byte, id int64, method string, params any, meta *requestMeta) ([]byte, error) {
	buf = append(buf, `{"jsonrpc":"2.0"`...)
	if id != 0 {
		buf = append(buf, `,"id":`...)
		buf = strconv.AppendInt(buf, id, 10)
	}
	buf = append(buf, `,"method":`...)
	buf = jsonfast.AppendString(buf, method)
	if params != nil {
		if pb, ok := appendPlainParams(append(buf, `,"params":`...), params); ok {
			buf = pb
		} else {
			pb, err := marshalParams(params)
			if err != nil {
				return nil, fmt.Errorf("encoding params of %s: %w", method, err)
			}
			if len(pb) > 0 { // an empty json.RawMessage means no params
				buf = append(buf, `,"params":`...)
				buf = append(buf, pb...)
			}
		}
	}
	if meta != nil {
		buf = append(buf, `,"meshrpc":{"call_id":`...)
		buf = jsonfast.AppendString(buf, meta.CallID)
		if meta.TimeoutMs > 0 {
			buf = append(buf, `,"timeout_ms":`...)
			buf = strconv.AppendInt(buf, meta.TimeoutMs, 10)
		}
		buf = append(buf, '}')
	}
	return append(buf, '}'), nil
}

// appendPlainParams appends the params of the commonest calls, positional
// strings and integers ([]any, []string), as json.Marshal would, without
// its reflection; ok is false for anything else.
func appendPlainParams(buf []byte, params any) ([]byte, bool) {
	switch p := params.(type) {
	case []string:
		if p == nil {
			return buf, false // null, as json.Marshal has it
		}
		buf = append(buf, '[')
		for i, v := range p {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = jsonfast.AppendString(buf, v)
		}
		return append(buf, ']'), true
	case []any:
		if p == nil {
			return buf, false
		}
		buf = append(buf, '[')
		for i, v := range p {
			if i > 0 {
				buf = append(buf, ',')
			}
			switch v := v.(type) {
			case string:
				buf = jsonfast.AppendString(buf, v)
			case int:
				buf = strconv.AppendInt(buf, int64(v), 10)
			case int64:
				buf = strconv.AppendInt(buf, v, 10)
			default:
				return buf, false
			}
		}
		return append(buf, ']'), true
	}
	return buf, false
}

func marshalParams(params any) ([]byte, error) {
	if raw, ok := params.(json.RawMessage); ok {
		return raw, nil
	}
	switch reflect.Indirect(reflect.ValueOf(params)).Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
		return json.Marshal(params)
	}
	return nil, fmt.Errorf("params must be a struct, map or slice, not %T", params)
}
