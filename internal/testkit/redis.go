package testkit

import (
	"errors"
	"os"
	"testing"

	"github.com/invitesvc/invitesvc/internal/redisserver"
)

// Redis returns the URL of a Redis server for t. With REDIS_URL set that
// server is shared with other tests and runs: never flush it, give every
// store a key prefix of its own. Otherwise it starts a private redis-server
// that stops when t ends.
func Redis(t testing.TB) string {
	t.Helper()
	NeedsServers(t)
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	u, _ := StartRedisServer(t)
	return u
}

// StartRedisServer starts a private redis-server on a free loopback port,
// without persistence, and waits until it answers. stop kills it, for tests
// of an unreachable Redis; t's cleanup calls it too.
func StartRedisServer(t testing.TB) (url string, stop func()) {
	t.Helper()
	return StartRedisServerOnPort(t, "")
}

// StartRedisServerOnPort is StartRedisServer on a given port, to bring a
// stopped server back at the same address.
func StartRedisServerOnPort(t testing.TB, port string) (url string, stop func()) {
	t.Helper()
	NeedsServers(t)
	s, err := redisserver.Start(t.TempDir(), port)
	if errors.Is(err, redisserver.ErrNotInstalled) {
		t.Fatalf("this test needs redis-server: %v; or set REDIS_URL", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s.URL, s.Stop
}
