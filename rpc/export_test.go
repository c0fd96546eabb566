package rpc

// RepliesHeld is the bytes of replies the server holds waiting to be
// written, all sources together.
func RepliesHeld(s *Server) int64 {
	s.sources.mu.Lock()
	defer s.sources.mu.Unlock()
	return s.sources.replyingAll
}

// OpenStreams is how many streams the server has open.
func OpenStreams(s *Server) int { return len(s.openStreams()) }
