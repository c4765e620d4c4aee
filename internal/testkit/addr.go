package testkit

import (
	"net"
	"testing"
)

// FreeAddr is a loopback address whose port was free a moment ago, for a
// server that another process (a built binary) will listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
