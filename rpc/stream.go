package rpc

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// maxStreamInFlight bounds the requests one stream has being handled; the
// stream stops reading (back pressure) beyond it.
const maxStreamInFlight = 256

// serveStream serves JSON-RPC over a WebSocket: each text message is a
// request or a batch, handled concurrently; each reply is a message, sent as
// it is ready and matched by id. Origin and Host were checked already, and
// the caller is the connection's, as for POST.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the Origin check above is stricter
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered
	}
	conn.SetReadLimit(s.cfg.MaxBodyBytes)
	s.inflight.Add(1)
	defer s.inflight.Done()

	// The request's context ends when this handler returns; the stream's
	// calls need the connection's values (its identity) but their own life.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	cs, _ := r.Context().Value(connStateKey{}).(*connState)

	replies := make(chan []byte, maxStreamInFlight)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for msg := range replies {
			if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
				cancel()
				for range replies { // drain, so handlers never block
				}
				return
			}
		}
	}()

	var handlers sync.WaitGroup
	slots := make(chan struct{}, maxStreamInFlight)
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			break
		}
		if typ != websocket.MessageText {
			conn.Close(websocket.StatusUnsupportedData, "JSON-RPC messages are text")
			break
		}
		slots <- struct{}{}
		handlers.Go(func() {
			defer func() { <-slots }()
			in := incoming{ctx: ctx, conn: cs, remote: r.RemoteAddr, callID: newCallID()}
			if reply := s.handleBody(in, data, nil); reply != nil {
				replies <- reply
			}
		})
	}
	cancel()
	handlers.Wait()
	close(replies)
	<-writerDone
	conn.CloseNow()
}
