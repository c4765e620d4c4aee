package service_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestErrorRows walks the error table of the contract: each row, its status,
// its code and, where input is at fault, its fields.
func TestErrorRows(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		invs := s.invite("ada@example.com", "bob@example.com", "carol@example.com")
		ada, bob, carol := invs[0], invs[1], invs[2]
		expect(t, s.do("POST", api+"/invitations/"+ada["token"].(string)+"/_accept", s.invitee("user-ada", "ada@example.com"), nil), http.StatusOK)
		expect(t, s.do("DELETE", api+"/acme/invitations/"+bob["id"].(string), s.admin, nil), http.StatusNoContent)
		expired := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"old@example.com"}, "expires_in": "1h"}).list("invitations")[0]

		none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
		noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
		expiredToken, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(-time.Hour).Unix()}).SignedString(secret)
		unverified := func() string {
			f := false
			tok, _ := auth.Mint(secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "u"}, Email: "carol@example.com", EmailVerified: &f}, time.Hour)
			return tok
		}()
		hundredOne := make([]string, 101)
		for i := range hundredOne {
			hundredOne[i] = fmt.Sprintf("u%d@example.com", i)
		}
		inv := func(m map[string]any, suffix string) string {
			return api + "/acme/invitations/" + m["id"].(string) + suffix
		}
		tok := func(m map[string]any, suffix string) string {
			return api + "/invitations/" + m["token"].(string) + suffix
		}

		rows := []struct {
			name, method, path, token string
			body                      any
			headers                   []string
			status                    int
			code                      string
			fields                    []string
		}{
			{"not json", "POST", api + "/acme/invitations", s.admin, "{not json", nil, 400, "root.malformed_request", nil},
			{"wrong type", "POST", api + "/acme/invitations", s.admin, `{"emails": "ada@example.com"}`, nil, 400, "root.malformed_request", []string{"emails"}},
			{"trailing data", "POST", api + "/acme/invitations", s.admin, `{"emails": ["x@example.com"]} {}`, nil, 400, "root.malformed_request", nil},
			{"array body", "PUT", api + "/acme", s.admin, `[]`, nil, 400, "root.malformed_request", nil},
			{"unknown field", "POST", api + "/acme/invitations", s.admin, `{"emails": ["x@example.com"], "status": "accepted"}`, nil, 400, "root.invalid_parameter", []string{"status"}},
			{"no emails", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{}}, nil, 400, "root.invalid_parameter", []string{"emails"}},
			{"101 emails", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": hundredOne}, nil, 400, "root.invalid_parameter", []string{"emails"}},
			{"bad email", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{"x@example.com", "not-an-email"}}, nil, 400, "root.invalid_parameter", []string{"emails[1]"}},
			{"email twice", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{"x@example.com", "X@example.com"}}, nil, 400, "root.invalid_parameter", []string{"emails[1]"}},
			{"bad role", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{"x@example.com"}, "role": "god"}, nil, 400, "root.invalid_parameter", []string{"role"}},
			{"expires_in too short", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{"x@example.com"}, "expires_in": "59m"}, nil, 400, "root.invalid_parameter", []string{"expires_in"}},
			{"expires_in too long", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{"x@example.com"}, "expires_in": "31d"}, nil, 400, "root.invalid_parameter", []string{"expires_in"}},
			{"bad organization id", "GET", api + "/-acme", s.admin, nil, nil, 400, "root.invalid_parameter", []string{"organization_id"}},
			{"empty name", "PUT", api + "/acme", s.admin, map[string]any{"name": "   "}, nil, 400, "root.invalid_parameter", []string{"name"}},
			{"bad limit", "GET", api + "/acme/invitations?limit=9", s.admin, nil, nil, 400, "root.invalid_parameter", []string{"limit"}},
			{"bad status", "GET", api + "/acme/invitations?status=open", s.admin, nil, nil, 400, "root.invalid_parameter", []string{"status"}},
			{"bad cursor", "GET", api + "/acme/invitations?starting_after=abc", s.admin, nil, nil, 400, "root.invalid_parameter", []string{"starting_after"}},
			{"two cursors", "GET", api + "/acme/members?starting_after=a&ending_before=b", s.admin, nil, nil, 400, "root.invalid_parameter", []string{"starting_after", "ending_before"}},
			{"no token", "GET", api + "/acme", "", nil, nil, 401, "root.invalid_authentication", nil},
			{"garbage token", "GET", api + "/acme", "abc.def.ghi", nil, nil, 401, "root.invalid_authentication", nil},
			{"alg none", "GET", api + "/acme", noneToken, nil, nil, 401, "root.invalid_authentication", nil},
			{"expired token", "GET", api + "/acme", expiredToken, nil, nil, 401, "root.invalid_authentication", nil},
			{"no permission", "GET", api + "/acme", s.invitee("u", "u@example.com"), nil, nil, 403, "root.forbidden", nil},
			{"no route", "GET", "/api/v1/nothing", s.admin, nil, nil, 404, "root.not_found", nil},
			{"method", "PATCH", api + "/acme", s.admin, nil, nil, 405, "root.method_not_allowed", nil},
			{"preflight from an origin not allowed", "OPTIONS", api + "/acme", "", nil, []string{"Origin", "https://console.example.com", "Access-Control-Request-Method", "PUT"}, 403, "root.forbidden", nil},
			{"If-Match another state", "PUT", api + "/acme", s.admin, map[string]any{"name": "Other"}, []string{"If-Match", `"v9"`}, 412, "root.precondition_failed", nil},
			{"If-Match not entity-tags", "DELETE", inv(carol, ""), s.admin, nil, []string{"If-Match", "v1"}, 400, "root.invalid_parameter", []string{"If-Match"}},
			{"too large", "PUT", api + "/acme", s.admin, `{"name": "` + strings.Repeat("a", 1<<20) + `"}`, nil, 413, "root.request_too_large", nil},
			{"media type", "PUT", api + "/acme", s.admin, `{"name": "x"}`, []string{"Content-Type", "text/plain"}, 415, "root.unsupported_media_type", nil},
			{"unregistered organization", "GET", api + "/nope/invitations", s.token("a", "", map[string][]string{"nope": {"org.read", "org.user.read"}}), nil, nil, 404, "organization.not_found", nil},
			{"invite to unregistered organization", "POST", api + "/nope/invitations", s.token("a", "", map[string][]string{"nope": {"org.user.invite"}}), map[string]any{"emails": []string{"x@example.com"}}, nil, 404, "organization.not_found", nil},
			{"unknown invitation", "GET", api + "/acme/invitations/01936f3e-0000-7000-8000-000000000000", s.admin, nil, nil, 404, "organization.invitation_not_found", nil},
			{"malformed invitation id", "GET", api + "/acme/invitations/not-a-uuid", s.admin, nil, nil, 404, "organization.invitation_not_found", nil},
			{"unknown token", "GET", api + "/invitations/" + strings.Repeat("A", 43), "", nil, nil, 404, "organization.invitation_not_found", []string{"invitation_token"}},
			{"cancelled token", "GET", tok(bob, ""), "", nil, nil, 404, "organization.invitation_not_found", []string{"invitation_token"}},
			{"already exists", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{"new@example.com", "carol@example.com"}}, nil, 409, "organization.invitation_already_exists", []string{"emails[1]"}},
			{"already member", "POST", api + "/acme/invitations", s.admin, map[string]any{"emails": []string{"ada@example.com"}}, nil, 400, "organization.user_organization_already_belongs", []string{"emails[0]"}},
			{"accepted by another", "POST", tok(ada, "/_accept"), s.invitee("user-other", "ada@example.com"), nil, nil, 409, "organization.invitation_already_accepted", nil},
			{"cancel accepted", "DELETE", inv(ada, ""), s.admin, nil, nil, 409, "organization.invitation_already_accepted", nil},
			{"resend accepted", "POST", inv(ada, "/resend"), s.admin, nil, nil, 409, "organization.invitation_already_accepted", nil},
			{"resend cancelled", "POST", inv(bob, "/resend"), s.admin, nil, nil, 409, "organization.invitation_cancelled", nil},
			{"accept cancelled by id", "POST", inv(bob, "/accept"), s.invitee("u-bob", "bob@example.com"), nil, nil, 409, "organization.invitation_cancelled", nil},
			{"accept cancelled by token", "POST", tok(bob, "/_accept"), s.invitee("u-bob", "bob@example.com"), nil, nil, 404, "organization.invitation_not_found", nil},
			{"email mismatch", "POST", tok(carol, "/_accept"), s.invitee("u-eve", "eve@example.com"), nil, nil, 403, "organization.invitation_email_mismatch", nil},
			{"email unverified", "POST", tok(carol, "/_accept"), unverified, nil, nil, 403, "organization.invitation_email_mismatch", nil},
			{"caller already member", "POST", inv(carol, "/accept"), s.invitee("user-ada", "carol@example.com"), nil, nil, 400, "organization.user_organization_already_belongs", nil},
			{"privileged role without org.admin", "POST", api + "/acme/invitations", s.token("i", "", map[string][]string{"acme": {"org.user.invite"}}), map[string]any{"emails": []string{"x@example.com"}, "role": "owner"}, nil, 403, "root.forbidden", nil},
		}
		for _, row := range rows {
			t.Run(row.name, func(t *testing.T) {
				r := s.do(row.method, row.path, row.token, row.body, row.headers...)
				expect(t, r, row.status, row.code)
				if row.fields != nil && !slices.Equal(r.errorFields(), row.fields) {
					t.Errorf("fields %v, want %v", r.errorFields(), row.fields)
				}
				if row.status == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if row.status == 405 && r.header.Get("Allow") != "GET, HEAD, PUT" {
					t.Errorf("Allow %q", r.header.Get("Allow"))
				}
			})
		}
		// Nothing any failing row tried was written.
		all := s.do("GET", api+"/acme/invitations?status=all&limit=100", s.admin, nil).list("invitations")
		if len(all) != 4 {
			t.Errorf("%d invitations after the error rows, want 4", len(all))
		}
		s.advance(2 * time.Hour)
		expect(t, s.do("POST", tok(expired, "/_accept"), s.invitee("u-old", "old@example.com"), nil), http.StatusGone, "organization.invitation_expired")
	})
}
