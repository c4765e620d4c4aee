package testkit_test

import (
	"net"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/testkit"
)

// A server stopped right after it started is down: go-smtp's Close alone
// missed a listener its Serve goroutine had not registered yet, and the
// server went on accepting (TestServerDownThenBack of the mailer saw
// every email sent while the server was meant to be down).
func TestSMTPServerStoppedRightAfterStartIsDown(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	for i := range 200 {
		server.Stop()
		if c, err := net.DialTimeout("tcp", server.Addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("round %d: the stopped server accepts connections", i)
		}
		server.Start()
	}
}
