package faults_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/tokenseal"
)

// TestKillDuringDelivery kills the service with SIGKILL while its mailer is
// sending, restarts it on the same data, and checks that no email is lost:
// every invitation's email arrives, and is recorded sent. An email the SMTP
// server took just before the kill, unrecorded, may arrive twice, under the
// same Message-ID; no more than the mailer had in flight.
func TestKillDuringDelivery(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	server.Delay(50 * time.Millisecond)
	dir := t.TempDir()
	identity := filepath.Join(dir, "delivery-identity")
	if _, err := tokenseal.LoadOrCreateIdentity(identity); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data-dir", filepath.Join(dir, "data"), "--smtp-url", server.URL, "--mail-from", "invitations@acme.test",
		"--delivery-identity-file", identity, "--accept-url", "https://app.example.com/invite?token={token}"}
	svc := startService(t, args...)
	adminToken := token(t, "admin", "admin@example.com", admin)
	if status, _ := call(svc.url, "PUT", api+"/acme", adminToken, map[string]any{"name": "Acme"}); status != http.StatusCreated {
		t.Fatalf("register: %d", status)
	}
	emails := make([]string, 60)
	for i := range emails {
		emails[i] = "user" + string(rune('a'+i/26)) + string(rune('a'+i%26)) + "@example.com"
	}
	status, body := call(svc.url, "POST", api+"/acme/invitations", adminToken, map[string]any{"emails": emails})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	ids := map[string]string{}
	for _, inv := range body["invitations"].([]any) {
		inv := inv.(map[string]any)
		ids[inv["email"].(string)] = inv["id"].(string)
	}
	server.WaitFor(10, 30*time.Second)
	svc.kill()
	before := len(server.Received())
	if before >= len(emails) {
		t.Fatalf("all %d emails were out before the kill: it killed no delivery", before)
	}

	svc = startService(t, args...)
	for email, id := range ids {
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, inv := call(svc.url, "GET", api+"/acme/invitations/"+id, adminToken, nil)
			if d, _ := inv["delivery"].(map[string]any); d != nil && d["status"] == "sent" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the email to %s is not recorded sent after the restart: %v", email, inv)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := server.Received()
	byRecipient := map[string][]string{}
	for _, m := range got {
		byRecipient[m.To[0]] = append(byRecipient[m.To[0]], testkit.ParseMail(t, m.Data).Header.Get("Message-Id"))
	}
	duplicates := 0
	for _, email := range emails {
		ids := byRecipient[email]
		if len(ids) == 0 {
			t.Errorf("the email to %s was lost", email)
		}
		for _, id := range ids[1:] {
			duplicates++
			if id != ids[0] {
				t.Errorf("a duplicate to %s has another Message-ID: %s, %s", email, id, ids[0])
			}
		}
	}
	if duplicates > 8 {
		t.Errorf("%d duplicates: more than the mailer had in flight", duplicates)
	}
	t.Logf("%d emails before the kill, %d in all, %d duplicates", before, len(got), duplicates)
}
