package service_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/internal/service"
)

func TestFailedTokenAttemptsAreRateLimited(t *testing.T) {
	s := startStack(t, "", func(c *service.Config) { c.FailuresPerMinute, c.FailureBurst = 1, 3 })
	s.register("acme")
	inv := s.invite("ada@example.com")[0]
	// Successes cost nothing.
	for range 5 {
		expect(t, s.do("GET", api+"/invitations/"+inv["token"].(string), "", nil), http.StatusOK)
	}
	guess := api + "/invitations/" + strings.Repeat("x", 43)
	for range 3 {
		expect(t, s.do("GET", guess, "", nil), http.StatusNotFound, "organization.invitation_not_found")
	}
	r := s.do("GET", guess, "", nil)
	expect(t, r, http.StatusTooManyRequests, "root.rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Once over the limit, even a right token waits: guessing must not pay off.
	expect(t, s.do("GET", api+"/invitations/"+inv["token"].(string), "", nil), http.StatusTooManyRequests, "root.rate_limited")
	expect(t, s.do("POST", guess+"/_accept", s.invitee("u", "ada@example.com"), nil), http.StatusTooManyRequests, "root.rate_limited")
}

func TestInviteFloodingIsRateLimitedPerOrganization(t *testing.T) {
	s := startStack(t, "", func(c *service.Config) { c.InvitationsPerHour = 5 })
	s.register("acme")
	s.register("other")
	s.invite("a1@example.com", "a2@example.com", "a3@example.com")
	// Two more fit; three do not, and nothing of them is created.
	r := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"b1@example.com", "b2@example.com", "b3@example.com"}})
	expect(t, r, http.StatusTooManyRequests, "root.rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	s.invite("b1@example.com", "b2@example.com")
	expect(t, s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"c@example.com"}}), http.StatusTooManyRequests, "root.rate_limited")
	if n := len(s.do("GET", api+"/acme/invitations", s.admin, nil).list("invitations")); n != 5 {
		t.Fatalf("%d invitations, want 5", n)
	}
	// Another organization has its own allowance.
	other := s.token("o", "", map[string][]string{"other": {"org.user.invite"}})
	expect(t, s.do("POST", api+"/other/invitations", other, map[string]any{"emails": []string{"c@example.com"}}), http.StatusCreated)
}

// TestConcurrentGuessesFromOneAddress: 500 concurrent failed look-ups from
// one address, with the default limits, over HTTP and each read store: at
// most the burst answer 404, the rest 429 (the issue saw 227 of 500 404s).
func TestConcurrentGuessesFromOneAddress(t *testing.T) {
	d := service.DefaultConfig()
	stores(t, func(t *testing.T, newStack func(opts ...func(*service.Config)) *stack) {
		s := newStack(func(c *service.Config) { c.FailuresPerMinute, c.FailureBurst = d.FailuresPerMinute, d.FailureBurst })
		s.register("acme")
		var mu sync.Mutex
		answers := map[int]int{}
		var wg sync.WaitGroup
		for i := range 500 {
			wg.Go(func() {
				token := strings.Repeat("x", 40) + fmt.Sprintf("%03d", i)
				r := s.doQuiet("GET", api+"/invitations/"+token, "", nil)
				mu.Lock()
				answers[r.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if answers[http.StatusNotFound] > d.FailureBurst || answers[http.StatusNotFound]+answers[http.StatusTooManyRequests] != 500 {
			t.Fatalf("answers %v; want at most %d 404 (the burst), the rest 429", answers, d.FailureBurst)
		}
	})
}
