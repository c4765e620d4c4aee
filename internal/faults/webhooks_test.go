package faults_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/testkit"
)

// TestKillWithDeliveriesPending kills invitesvc (SIGKILL) while its webhook
// deliveries wait for a receiver that answers 503, then starts it again on
// the same data with the receiver answering: every event is delivered, and
// a receiver that deduplicates by webhook-id takes each exactly once.
func TestKillWithDeliveriesPending(t *testing.T) {
	rcv := testkit.StartReceiver(t, nil)
	rcv.Answer(func(int) int { return http.StatusServiceUnavailable })
	args := []string{"--data-dir", t.TempDir(), "--webhooks-allow-insecure", "--webhooks-retry-schedule", "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms"}
	svc := startService(t, args...)
	adminToken := token(t, "admin", "", admin)
	expectStatus(t, http.StatusCreated, svc.url, "PUT", api+"/acme", adminToken, map[string]any{"name": "Acme"})
	status, hook := call(svc.url, "POST", api+"/acme/webhooks", adminToken, map[string]any{"url": rcv.URL(), "events": []string{"invitation.created"}})
	if status != http.StatusCreated {
		t.Fatalf("create the endpoint: %d %v", status, hook)
	}
	rcv.Trust(hook["secret"].(string))
	const invited = 20
	emails := make([]string, invited)
	for i := range emails {
		emails[i] = fmt.Sprintf("kill-%d@example.com", i)
	}
	expectStatus(t, http.StatusCreated, svc.url, "POST", api+"/acme/invitations", adminToken, map[string]any{"emails": emails})
	testkit.Eventually(t, 60*time.Second, "the first delivery tried", func() bool { return len(rcv.Requests()) >= 2 })
	svc.kill()

	rcv.Answer(func(int) int { return http.StatusOK })
	startService(t, args...)
	testkit.Eventually(t, 60*time.Second, "every invitation delivered", func() bool { return len(rcv.Applied()) == invited })
	for _, r := range rcv.Requests() {
		if len(r.VerifiedBy) != 1 {
			t.Fatalf("a delivery does not verify: %+v", r)
		}
	}
}
