package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestLostRacesAnswer409 checks that a command that could not win against
// concurrent changes of its aggregate answers 409
// root.concurrent_modification with Retry-After, on every command route: it
// is contention, not an outage (it used to be 503 root.unavailable).
func TestLostRacesAnswer409(t *testing.T) {
	verified := true
	invitee := mint(t, auth.Claims{Email: "ada@example.com", EmailVerified: &verified})
	admin := bearer(t, auth.PermOrgAdmin, auth.PermOrgUserInvite)
	routes := []struct{ method, path, token, body string }{
		{http.MethodPut, orgPath, admin, `{"name":"Acme"}`},
		{http.MethodPost, createPath, admin, `{"emails":["ada@example.com"]}`},
		{http.MethodDelete, invitationPath, admin, ""},
		{http.MethodPost, invitationPath + "/resend", admin, `{}`},
		{http.MethodPost, invitationPath + "/accept", invitee, ""},
		{http.MethodPost, tokenPath + "/_accept", invitee, ""},
		{http.MethodDelete, orgPath + "/members/user-2", admin, ""},
	}
	for name, err := range map[string]error{
		"gave up retrying":  fmt.Errorf("%w: gave up after 8 attempts", domain.ErrConflict),
		"queued too long":   fmt.Errorf("%w: still queued behind commands on the same aggregates: %w", domain.ErrConflict, context.DeadlineExceeded),
		"lost a single try": domain.ErrConflict,
	} {
		for _, r := range routes {
			t.Run(name+" "+r.method+" "+r.path, func(t *testing.T) {
				h := newHarness(t)
				h.commands.err = err
				rec := h.serve(r.method, r.path, r.token, r.body)
				if h.commands.calls != 1 {
					t.Fatalf("the command ran %d times", h.commands.calls)
				}
				env := wantProblem(t, rec, http.StatusConflict, "root.concurrent_modification")
				if rec.Header().Get("Retry-After") != "1" {
					t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
				}
				if msg := env.Errors[0].Message; strings.Contains(msg, "attempts") || strings.Contains(msg, "aggregate") || !strings.Contains(msg, "same resource") {
					t.Errorf("message %q: it should say what happened, without internals", msg)
				}
				if strings.Contains(h.logs.String(), "dependency unavailable") || strings.Contains(h.logs.String(), "request failed") {
					t.Errorf("logged as a failure: %s", h.logs)
				}
			})
		}
	}
}
