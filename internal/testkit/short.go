package testkit

import "testing"

// NeedsServers skips t under go test -short. Every test that starts a real
// server (JetStream, redis-server, a built binary, a cluster) calls it
// before starting one; JetStream and Redis call it themselves.
func NeedsServers(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real servers (JetStream, redis-server or a built binary); runs without -short")
	}
}
