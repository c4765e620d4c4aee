package service_test

import (
	"net/http"
	"strings"
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
