package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Headers of the wire protocol (docs/protocol.md).
const (
	HeaderTimeout = "Meshrpc-Timeout-Ms" // the caller's remaining time
	HeaderCallID  = "Meshrpc-Call-Id"    // the call's id, echoed in the reply
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP serves /rpc: POST for JSON-RPC over HTTP, GET with Upgrade for
// the WebSocket stream; other paths go to Config.Pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		refuse(w, http.StatusMisdirectedRequest, fmt.Sprintf("this node does not answer to host %q; use its tailnet name or address", r.Host))
		return
	}
	src := sourceOf(r.RemoteAddr)
	release, ok := s.sources.admitRequest(src)
	if !ok {
		refuse(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests in progress from %s: the limit per node is %d; let your calls finish first", src, s.cfg.MaxConnsPerSource))
		return
	}
	defer release()
	if r.URL.Path != "/rpc" {
		if s.cfg.Pages == nil {
			http.NotFound(w, r)
			return
		}
		s.cfg.Pages.ServeHTTP(w, r)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin, r.Host) {
		refuse(w, http.StatusForbidden, fmt.Sprintf("cross-origin request from %s refused; only pages served by this node may call it", origin))
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.servePost(w, r)
	case http.MethodGet:
		if isWebSocketUpgrade(r) {
			s.serveStream(w, r)
			return
		}
		w.Header().Set("Allow", "POST")
		refuse(w, http.StatusMethodNotAllowed, "use POST /rpc with a JSON-RPC request, or a WebSocket upgrade")
	default:
		w.Header().Set("Allow", "POST")
		refuse(w, http.StatusMethodNotAllowed, "use POST /rpc with a JSON-RPC request")
	}
}

func (s *Server) servePost(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		refuse(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type must be application/json, not %q", r.Header.Get("Content-Type")))
		return
	}
	rc := http.NewResponseController(w)
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	buf.Reset()
	body := &chargedReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), sources: s.sources, src: sourceOf(r.RemoteAddr)}
	rc.SetReadDeadline(body.clock.begin(&s.cfg, func(d time.Time) { rc.SetReadDeadline(d) }))
	defer body.refund()
	_, err := buf.ReadFrom(body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than the limit of %d bytes", s.cfg.MaxBodyBytes))
		return
	case errors.Is(err, errReadingBudget):
		w.Header().Set("Connection", "close")
		refuse(w, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		// The client stalled or went away mid-body: nobody to answer, and
		// nothing to say (not even net/http's empty 200): drop the connection.
		panic(http.ErrAbortHandler)
	}
	rc.SetReadDeadline(time.Time{})

	in := s.incomingPost(w, r)
	out := bufPool.Get().(*bytes.Buffer)
	defer putBuf(out)
	out.Reset()
	reply := s.handleBody(in, buf.Bytes(), out.AvailableBuffer())
	if reply == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// The reply waits to be written while the peer does not read it:
	// charged to its source, and dropped with the connection beyond its
	// share (the call ran; a retry with its call id gets the outcome).
	src := sourceOf(r.RemoteAddr)
	if err := s.sources.holdReply(src, int64(len(reply))); err != nil {
		panic(http.ErrAbortHandler)
	}
	defer s.sources.releaseReply(src, int64(len(reply)))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(reply)))
	w.Write(reply)
}

// incomingPost is a POST's call as the server handles it: its context,
// connection, caller's address, call id (the client's, or a new one, echoed
// in the reply's header) and deadline.
func (s *Server) incomingPost(w http.ResponseWriter, r *http.Request) incoming {
	callID := r.Header.Get(HeaderCallID)
	clientCallID := callID != "" && len(callID) <= 128
	if !clientCallID {
		callID = newCallID()
	}
	w.Header().Set(HeaderCallID, callID)
	cs, _ := r.Context().Value(connStateKey{}).(*connState)
	return incoming{
		ctx:          r.Context(),
		conn:         cs,
		remote:       r.RemoteAddr,
		callID:       callID,
		clientCallID: clientCallID,
		timeout:      parseTimeout(r.Header.Get(HeaderTimeout)),
	}
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

// refuse answers a request refused before it is read (403, 405, 413, 415,
// 421, 429) with a JSON-RPC error body, so that generic clients can show it.
func refuse(w http.ResponseWriter, status int, msg string) {
	code := CodeInvalidRequest
	if status == http.StatusForbidden || status == http.StatusMisdirectedRequest {
		code = CodePermissionDenied
	}
	body := appendResponse(nil, nil, nil, &Error{Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func parseTimeout(v string) time.Duration {
	if v == "" {
		return 0
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	if ms > int64(24*time.Hour/time.Millisecond) {
		return 24 * time.Hour
	}
	return time.Duration(ms) * time.Millisecond
}

func hostSet(hosts []string) map[string]bool {
	if len(hosts) == 0 {
		return nil
	}
	m := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		m[normalizeHost(h)] = true
	}
	return m
}

// normalizeHost strips the port, brackets and trailing dot, and lowers case.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

func (s *Server) hostAllowed(host string) bool {
	return s.hosts == nil || s.hosts[normalizeHost(host)]
}

// originAllowed reports whether a browser page at origin is this node's own:
// the same host and port as the request (whose Host was checked already).
func (s *Server) originAllowed(origin, reqHost string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, reqHost)
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
