package rpc

import "net/http"

// serveStream serves JSON-RPC over a WebSocket (see stream_ws.go).
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	refuse(w, http.StatusNotImplemented, "the WebSocket stream is not available yet; use POST /rpc")
}
