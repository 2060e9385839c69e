package durable

// Taken returns how many responses are taken over.
func (s *Server) Taken() int {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	return len(s.live)
}

// Following returns how many followers run.
func (s *Server) Following() int {
	s.tailsMu.Lock()
	defer s.tailsMu.Unlock()
	return len(s.tails)
}
