package eventstore

// HoldBatches keeps s from sending batches until release is called, so that
// a test can gather appends into one; queued counts those waiting.
func HoldBatches(s *Store) (queued func() int, release func()) {
	g := s.group
	g.mu.Lock()
	inFlight := g.inFlight
	g.inFlight = 0
	g.mu.Unlock()
	queued = func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.queue)
	}
	release = func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.inFlight = inFlight
		g.dispatch()
	}
	return queued, release
}
