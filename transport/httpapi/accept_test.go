package httpapi

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

type acceptBody struct {
	Organization map[string]string `json:"organization"`
	Membership   map[string]string `json:"membership"`
}

func acceptResult() commands.AcceptInvitationResult {
	return commands.AcceptInvitationResult{
		Organization: domain.Organization{ID: "acme", Name: "Acme Corp"},
		Membership: domain.Membership{OrganizationID: "acme", UserID: "user-9", Email: "ada@example.com", Role: domain.RoleAdmin,
			JoinedAt: testNow, InvitationID: testInvitationID, Active: true, Version: 1},
	}
}

// TestAcceptRunsTheCommandAsTheCaller checks both accept routes: the
// caller comes from the token (no permission needed), the invitation from
// the path.
func TestAcceptRunsTheCommandAsTheCaller(t *testing.T) {
	verified := true
	token := mint(t, auth.Claims{Email: "ada@example.com", EmailVerified: &verified})
	for path, want := range map[string]commands.AcceptInvitation{
		invitationPath + "/accept": {OrganizationID: "acme", InvitationID: testInvitationID},
		tokenPath + "/_accept":     {Token: testToken},
	} {
		h := newHarness(t)
		h.commands.accept = acceptResult()
		got := decoded[acceptBody](t, h.serve(http.MethodPost, path, token, ""), http.StatusOK)
		wantBody := acceptBody{
			Organization: map[string]string{"id": "acme", "name": "Acme Corp"},
			Membership: map[string]string{"user_id": "user-9", "email": "ada@example.com", "role": "admin",
				"joined_at": "2026-11-23T09:00:00Z", "invitation_id": testInvitationID},
		}
		if !reflect.DeepEqual(got, wantBody) {
			t.Errorf("%s answered %+v; want %+v", path, got, wantBody)
		}
		cmd, ok := h.commands.got.(commands.AcceptInvitation)
		if !ok || cmd.Caller.UserID != "user-1" || cmd.Caller.Email != "ada@example.com" || cmd.Caller.EmailVerified == nil || !*cmd.Caller.EmailVerified {
			t.Fatalf("%s ran %+v", path, h.commands.got)
		}
		cmd.Caller = domain.Caller{}
		if cmd != want {
			t.Errorf("%s ran %+v; want %+v", path, cmd, want)
		}
	}
}

func TestAcceptByTokenNamesTheToken(t *testing.T) {
	token := bearer(t)
	for _, path := range []string{
		"/api/v1/organizations/invitations/short/_accept",
		"/api/v1/organizations/invitations/" + strings.Repeat("A", 42) + "%2B/_accept",
		"/api/v1/organizations/invitations/" + strings.Repeat("A", 44) + "/_accept",
	} {
		h := newHarness(t)
		wantProblem(t, h.serve(http.MethodPost, path, token, ""), http.StatusNotFound, "organization.invitation_not_found", "invitation_token")
		if h.commands.calls != 0 {
			t.Errorf("%s ran %+v", path, h.commands.got)
		}
	}
	// A well-formed token the command does not know is answered the same.
	h := newHarness(t)
	h.commands.err = domain.ErrInvitationNotFound
	wantProblem(t, h.serve(http.MethodPost, tokenPath+"/_accept", token, ""), http.StatusNotFound, "organization.invitation_not_found", "invitation_token")
	// Other refusals keep their own codes.
	h.commands.err = domain.ErrEmailMismatch
	wantProblem(t, h.serve(http.MethodPost, tokenPath+"/_accept", token, ""), http.StatusForbidden, "organization.invitation_email_mismatch")
	h.commands.err = domain.ErrInvitationExpired
	wantProblem(t, h.serve(http.MethodPost, invitationPath+"/accept", token, ""), http.StatusGone, "organization.invitation_expired")
}

func TestLookupByToken(t *testing.T) {
	h := newHarness(t)
	h.queries.match = projections.TokenMatch{Found: true, Invitation: projections.Invitation{Invitation: testInvitation()},
		Organization: projections.Organization{ID: "acme", Name: "Acme Corp"}}
	// The look-up needs no bearer token: the invitation token is the secret.
	got := decoded[invitationBody](t, h.serve(http.MethodGet, tokenPath, "", ""), http.StatusOK)
	if got.ID != testInvitationID || got.Token != testToken || got.Organization["name"] != "Acme Corp" || got.Status != "pending" {
		t.Errorf("answered %+v", got)
	}
	if h.queries.tokenSHA256 != domain.SHA256(testToken) {
		t.Errorf("looked up %q; want the token's hash", h.queries.tokenSHA256)
	}

	h.queries.match = projections.TokenMatch{}
	wantProblem(t, h.serve(http.MethodGet, tokenPath, "", ""), http.StatusNotFound, "organization.invitation_not_found", "invitation_token")
	h.queries.asked = nil
	wantProblem(t, h.serve(http.MethodGet, "/api/v1/organizations/invitations/"+testToken[1:], "", ""), http.StatusNotFound, "organization.invitation_not_found", "invitation_token")
	if len(h.queries.asked) != 0 {
		t.Errorf("a malformed token was looked up: %v", h.queries.asked)
	}
}

// TestTokenRoutesChargeFailuresOnly checks the failure limiter on the
// token-guessable routes: refusals are charged to the client, successes and
// store failures are not, and a client over its limit is refused before
// any look-up.
func TestTokenRoutesChargeFailuresOnly(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Limiter = NewFailureLimiter(1, 2) })
	h.queries.match = projections.TokenMatch{Found: true, Invitation: projections.Invitation{Invitation: testInvitation()}}
	for range 3 {
		if rec := h.serve(http.MethodGet, tokenPath, "", ""); rec.Code != http.StatusOK {
			t.Fatalf("hit answered %d", rec.Code)
		}
	}
	h.queries.err = domain.ErrUnavailable
	for range 3 {
		wantProblem(t, h.serve(http.MethodGet, tokenPath, "", ""), http.StatusServiceUnavailable, codeUnavailable)
	}
	h.queries.err = nil
	// Two misses spend the burst: one by look-up, one by accept.
	wantProblem(t, h.serve(http.MethodGet, "/api/v1/organizations/invitations/short", "", ""), http.StatusNotFound, "organization.invitation_not_found", "invitation_token")
	h.commands.err = domain.ErrInvitationNotFound
	wantProblem(t, h.serve(http.MethodPost, invitationPath+"/accept", bearer(t), ""), http.StatusNotFound, "organization.invitation_not_found")
	h.queries.asked, h.commands.calls = nil, 0
	for _, rt := range []struct{ method, path string }{{http.MethodGet, tokenPath}, {http.MethodPost, tokenPath + "/_accept"}, {http.MethodPost, invitationPath + "/accept"}} {
		rec := h.serve(rt.method, rt.path, bearer(t), "")
		wantProblem(t, rec, http.StatusTooManyRequests, codeRateLimited)
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", rt.method, rt.path)
		}
	}
	if len(h.queries.asked) != 0 || h.commands.calls != 0 {
		t.Errorf("a limited client reached the ports: %v, %d commands", h.queries.asked, h.commands.calls)
	}
	// The limit is per client address.
	req := httptest.NewRequest(http.MethodGet, tokenPath, nil)
	req.RemoteAddr = "198.51.100.7:4000"
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("another client answered %d %s", rec.Code, rec.Body)
	}
}
