package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

const createPath = orgPath + "/invitations"

type invitationBody struct {
	ID           string            `json:"id"`
	Organization map[string]string `json:"organization"`
	Email        string            `json:"email"`
	Role         string            `json:"role"`
	Status       string            `json:"status"`
	ExpiresAt    string            `json:"expires_at"`
	Token        string            `json:"token"`
}

func TestCreateInvitationsRunsTheNormalizedCommand(t *testing.T) {
	for _, tc := range []struct {
		name        string
		perms       []string
		body        string
		key         []string
		want        commands.CreateInvitations
		sameHashAs  string   // a body that must hash the same
		otherHashes []string // bodies that must not
	}{
		{
			name: "defaults", perms: []string{auth.PermOrgUserInvite},
			body: `{"emails":["Ada@Example.com","bob@example.com"]}`,
			want: commands.CreateInvitations{OrganizationID: "acme", Emails: []string{"ada@example.com", "bob@example.com"},
				Role: domain.RoleMember, ExpiresIn: 7 * 24 * time.Hour, Actor: "user-1"},
			sameHashAs: `{"emails":["ada@example.com","BOB@example.com"],"role":"member","expires_in":"168h"}`,
			otherHashes: []string{`{"emails":["bob@example.com","ada@example.com"]}`, `{"emails":["ada@example.com"]}`,
				`{"emails":["ada@example.com","bob@example.com"],"role":"viewer"}`, `{"emails":["ada@example.com","bob@example.com"],"expires_in":"2h"}`},
		},
		{
			name: "admin may manage privileged roles", perms: []string{auth.PermOrgUserInvite, auth.PermOrgAdmin},
			body: `{"emails":["ada@example.com"],"role":"admin","expires_in":"3d"}`, key: []string{"Idempotency-Key", "key-1"},
			want: commands.CreateInvitations{OrganizationID: "acme", Emails: []string{"ada@example.com"},
				Role: domain.RoleAdmin, ExpiresIn: 72 * time.Hour, Actor: "user-1", MayManagePrivileged: true, IdempotencyKey: "key-1"},
			sameHashAs: `{"expires_in":"72h","role":"admin","emails":["ADA@example.com"]}`,
		},
		{
			// An owner invitation from a mere inviter still reaches the command,
			// which refuses it: the HTTP layer only says who may manage roles.
			name: "inviter may not", perms: []string{auth.PermOrgUserInvite},
			body: `{"emails":["ada@example.com"],"role":"owner"}`,
			want: commands.CreateInvitations{OrganizationID: "acme", Emails: []string{"ada@example.com"},
				Role: domain.RoleOwner, ExpiresIn: 7 * 24 * time.Hour, Actor: "user-1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.serve(http.MethodPost, createPath, bearer(t, tc.perms...), tc.body, tc.key...)
			got, ok := h.commands.got.(commands.CreateInvitations)
			if !ok || got.RequestSHA256 == "" {
				t.Fatalf("ran %#v", h.commands.got)
			}
			hash := got.RequestSHA256
			got.RequestSHA256 = ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ran %+v; want %+v", got, tc.want)
			}
			if tc.sameHashAs != "" {
				h.serve(http.MethodPost, createPath, bearer(t, tc.perms...), tc.sameHashAs, tc.key...)
				if again := h.commands.got.(commands.CreateInvitations).RequestSHA256; again != hash {
					t.Errorf("the same request in other words hashed %s, then %s", hash, again)
				}
			}
			for _, other := range tc.otherHashes {
				h.serve(http.MethodPost, createPath, bearer(t, tc.perms...), other, tc.key...)
				if h.commands.got.(commands.CreateInvitations).RequestSHA256 == hash {
					t.Errorf("%s hashed as %s", other, tc.body)
				}
			}
		})
	}
}

func TestCreateInvitationsAnswer(t *testing.T) {
	for _, replayed := range []bool{false, true} {
		h := newHarness(t)
		inv := testInvitation()
		h.commands.create = commands.CreateInvitationsResult{
			Organization: domain.Organization{ID: "acme", Name: "Acme Corp"},
			Invitations:  []commands.CreatedInvitation{{Invitation: inv, Token: testToken}},
			Replayed:     replayed,
		}
		rec := h.serve(http.MethodPost, createPath, bearer(t, auth.PermOrgUserInvite), `{"emails":["ada@example.com"]}`)
		got := decoded[map[string][]invitationBody](t, rec, http.StatusCreated)["invitations"]
		want := []invitationBody{{ID: testInvitationID, Organization: map[string]string{"id": "acme", "name": "Acme Corp"},
			Email: "ada@example.com", Role: "member", Status: "pending", ExpiresAt: "2026-11-23T10:00:00Z", Token: testToken}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("answered %+v; want %+v", got, want)
		}
		if header := rec.Header().Get("Idempotent-Replayed"); (header == "true") != replayed || (header != "" && header != "true") {
			t.Errorf("replayed %v: Idempotent-Replayed %q", replayed, header)
		}
	}
}

func TestCreateInvitationsRefusesBadRequests(t *testing.T) {
	many := make([]string, maxEmails+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"p%d@example.com"`, i)
	}
	for _, tc := range []struct {
		name    string
		body    string
		headers []string
		fields  []string
	}{
		{"no emails", `{"emails":[]}`, nil, []string{"emails"}},
		{"emails missing", `{"role":"member"}`, nil, []string{"emails"}},
		{"too many emails", `{"emails":[` + strings.Join(many, ",") + `]}`, nil, []string{"emails"}},
		{"bad and repeated emails", `{"emails":["not-an-address","ada@example.com","Ada <x@example.com>","ADA@example.com"]}`, nil, []string{"emails[0]", "emails[2]", "emails[3]"}},
		{"bad role", `{"emails":["ada@example.com"],"role":"king"}`, nil, []string{"role"}},
		{"expiry too long", `{"emails":["ada@example.com"],"expires_in":"31d"}`, nil, []string{"expires_in"}},
		{"every field bad", `{"emails":["x"],"role":"","expires_in":"1m"}`, nil, []string{"emails[0]", "role", "expires_in"}},
		{"empty Idempotency-Key", `{"emails":["ada@example.com"]}`, []string{"Idempotency-Key", ""}, []string{"Idempotency-Key"}},
		{"long Idempotency-Key", `{"emails":["ada@example.com"]}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, []string{"Idempotency-Key"}},
		{"control in Idempotency-Key", `{"emails":["ada@example.com"]}`, []string{"Idempotency-Key", "a\tb"}, []string{"Idempotency-Key"}},
		{"two Idempotency-Keys", `{"emails":["ada@example.com"]}`, []string{"Idempotency-Key", "a", "Idempotency-Key", "a"}, []string{"Idempotency-Key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.serve(http.MethodPost, createPath, bearer(t, auth.PermOrgUserInvite), tc.body, tc.headers...)
			wantProblem(t, rec, http.StatusBadRequest, "root.invalid_parameter", tc.fields...)
			if h.commands.calls != 0 {
				t.Errorf("ran %+v", h.commands.got)
			}
		})
	}
}

func TestCreateInvitationsIsLimitedPerOrganization(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Invites = NewInviteLimiter(3) })
	token := mint(t, auth.Claims{OrgPermissions: grant(auth.AnyOrganization, auth.PermOrgUserInvite)})
	two := `{"emails":["ada@example.com","bob@example.com"]}`
	if rec := h.serve(http.MethodPost, createPath, token, two); rec.Code != http.StatusCreated {
		t.Fatalf("first create answered %d %s", rec.Code, rec.Body)
	}
	rec := h.serve(http.MethodPost, createPath, token, two)
	wantProblem(t, rec, http.StatusTooManyRequests, codeRateLimited)
	if rec.Header().Get("Retry-After") == "" || h.commands.calls != 1 {
		t.Errorf("Retry-After %q, %d commands run", rec.Header().Get("Retry-After"), h.commands.calls)
	}
	// Each organization has its own budget.
	if rec := h.serve(http.MethodPost, "/api/v1/organizations/other/invitations", token, two); rec.Code != http.StatusCreated {
		t.Errorf("another organization answered %d %s", rec.Code, rec.Body)
	}
}

type listBody struct {
	Invitations []invitationBody `json:"invitations"`
	Members     []struct {
		UserID string `json:"user_id"`
	} `json:"members"`
	Events []struct {
		Sequence uint64 `json:"sequence"`
		Type     string `json:"type"`
		Actor    string `json:"actor"`
	} `json:"events"`
	Links map[string]string `json:"links"`
}

func pendingInvitations(positions ...uint64) []projections.Invitation {
	out := make([]projections.Invitation, len(positions))
	for i, p := range positions {
		inv := testInvitation()
		inv.ID = fmt.Sprintf("0193a1f4-7c2e-7d3a-9b1e-%012d", p)
		out[i] = projections.Invitation{Invitation: inv, Position: p}
	}
	return out
}

func TestListInvitations(t *testing.T) {
	token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead)
	cursor := projections.EncodeCursor
	for _, tc := range []struct {
		query  string
		page   projections.Page[projections.Invitation]
		status projections.StatusFilter
		req    projections.PageRequest
		links  map[string]string
	}{
		{
			query: "", page: projections.Page[projections.Invitation]{Items: pendingInvitations(9, 8)},
			status: "pending", req: projections.PageRequest{Limit: 10},
			links: map[string]string{"self": createPath},
		},
		{
			query: "?status=all&limit=25", page: projections.Page[projections.Invitation]{Items: pendingInvitations(9, 8, 7), HasNext: true, HasPrev: true},
			status: "all", req: projections.PageRequest{Limit: 25},
			links: map[string]string{
				"self": createPath + "?limit=25&status=all",
				"next": createPath + "?limit=25&starting_after=" + cursor(7) + "&status=all",
				"prev": createPath + "?ending_before=" + cursor(9) + "&limit=25&status=all",
			},
		},
		{
			// A page reached backwards: its next link drops ending_before.
			query: "?status=accepted&ending_before=" + cursor(3), page: projections.Page[projections.Invitation]{Items: pendingInvitations(5, 4), HasNext: true},
			status: "accepted", req: projections.PageRequest{Limit: 10, EndingBefore: 3},
			links: map[string]string{
				"self": createPath + "?ending_before=" + cursor(3) + "&status=accepted",
				"next": createPath + "?starting_after=" + cursor(4) + "&status=accepted",
			},
		},
		{
			query: "?starting_after=" + cursor(40), page: projections.Page[projections.Invitation]{HasNext: true, HasPrev: true},
			status: "pending", req: projections.PageRequest{Limit: 10, StartingAfter: 40},
			links: map[string]string{"self": createPath + "?starting_after=" + cursor(40)}, // no neighbours of an empty page
		},
	} {
		t.Run(tc.query, func(t *testing.T) {
			h := newHarness(t)
			h.queries.invitations = tc.page
			got := decoded[listBody](t, h.serve(http.MethodGet, createPath+tc.query, token, ""), http.StatusOK)
			if h.queries.status != tc.status || h.queries.page != tc.req {
				t.Errorf("listed %q %+v; want %q %+v", h.queries.status, h.queries.page, tc.status, tc.req)
			}
			if !reflect.DeepEqual(got.Links, tc.links) {
				t.Errorf("links %v; want %v", got.Links, tc.links)
			}
			if len(got.Invitations) != len(tc.page.Items) {
				t.Fatalf("%d invitations; want %d", len(got.Invitations), len(tc.page.Items))
			}
			for i, inv := range got.Invitations {
				if inv.ID != tc.page.Items[i].ID || inv.Organization["name"] != "Acme" || inv.Token != "" {
					t.Errorf("invitation %d: %+v", i, inv)
				}
			}
		})
	}
}

// TestListQueryRefusals covers the list parameters of all three lists.
func TestListQueryRefusals(t *testing.T) {
	token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead)
	for _, tc := range []struct {
		path   string
		fields []string
	}{
		{createPath + "?status=open", []string{"status"}},
		{createPath + "?status=", []string{"status"}},
		{createPath + "?limit=9", []string{"limit"}},
		{orgPath + "/members?limit=101", []string{"limit"}},
		{orgPath + "/members?limit=", []string{"limit"}},
		{orgPath + "/events?limit=ten", []string{"limit"}},
		{createPath + "?starting_after=" + projections.EncodeCursor(1) + "&ending_before=" + projections.EncodeCursor(9), []string{"starting_after", "ending_before"}},
		{orgPath + "/members?starting_after=nonsense", []string{"starting_after"}},
		{orgPath + "/events?ending_before=" + "42", []string{"ending_before"}},
		{orgPath + "/events?type=invitation.slot_taken", []string{"type"}},
		{orgPath + "/events?since=yesterday", []string{"since"}},
		{orgPath + "/events?until=2026-11-23", []string{"until"}},
	} {
		h := newHarness(t)
		wantProblem(t, h.serve(http.MethodGet, tc.path, token, ""), http.StatusBadRequest, "root.invalid_parameter", tc.fields...)
		if len(h.queries.asked) != 0 {
			t.Errorf("%s queried %v", tc.path, h.queries.asked)
		}
	}
}

// TestListsOfAnUnknownOrganization checks that every list answers
// organization.not_found rather than an empty page.
func TestListsOfAnUnknownOrganization(t *testing.T) {
	token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead)
	for _, path := range []string{createPath, orgPath + "/members", orgPath + "/events"} {
		h := newHarness(t)
		delete(h.queries.orgs, "acme")
		h.events.feed = []domain.Recorded{testCreated(1, testNow)}
		wantProblem(t, h.serve(http.MethodGet, path, token, ""), http.StatusNotFound, "organization.not_found")
		if want := []string{"Organization"}; !reflect.DeepEqual(h.queries.asked, want) {
			t.Errorf("%s queried %v; want %v", path, h.queries.asked, want)
		}
	}
}

func TestGetInvitation(t *testing.T) {
	token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead)
	h := newHarness(t)
	got := decoded[invitationBody](t, h.serve(http.MethodGet, invitationPath, token, ""), http.StatusOK)
	if got.ID != testInvitationID || got.Organization["name"] != "Acme" || got.Status != "pending" || got.Token != "" {
		t.Errorf("answered %+v", got)
	}
	if h.queries.invitationID != testInvitationID {
		t.Errorf("looked up %q", h.queries.invitationID)
	}

	h.queries.orgs = nil
	wantProblem(t, h.serve(http.MethodGet, invitationPath, token, ""), http.StatusNotFound, "organization.not_found")
	h.queries.invitation = nil
	wantProblem(t, h.serve(http.MethodGet, invitationPath, token, ""), http.StatusNotFound, "organization.invitation_not_found")
}

// TestNonCanonicalInvitationIDs checks that only a canonical UUID reaches a
// query, an event-log read or a command, on every route that takes one.
func TestNonCanonicalInvitationIDs(t *testing.T) {
	for _, id := range []string{
		"not-a-uuid",
		strings.ToUpper(testInvitationID),
		"{" + testInvitationID + "}",
		"urn:uuid:" + testInvitationID,
		strings.ReplaceAll(testInvitationID, "-", ""),
		testInvitationID + "%2A",
	} {
		path := orgPath + "/invitations/" + id
		for _, rt := range []struct{ method, path string }{
			{http.MethodGet, path}, {http.MethodDelete, path}, {http.MethodPost, path + "/resend"},
			{http.MethodPost, path + "/accept"}, {http.MethodGet, path + "/events"},
		} {
			h := newHarness(t)
			token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite)
			wantProblem(t, h.serve(rt.method, rt.path, token, ""), http.StatusNotFound, "organization.invitation_not_found")
			if h.commands.calls != 0 || len(h.queries.asked) != 0 || h.events.loaded != (domain.StreamID{}) {
				t.Errorf("%s %s reached a port", rt.method, rt.path)
			}
		}
	}
}

func TestCancelInvitation(t *testing.T) {
	for _, admin := range []bool{false, true} {
		h := newHarness(t)
		perms := []string{auth.PermOrgUserInvite}
		if admin {
			perms = append(perms, auth.PermOrgAdmin)
		}
		rec := h.serve(http.MethodDelete, invitationPath, bearer(t, perms...), "")
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Errorf("answered %d %q", rec.Code, rec.Body)
		}
		want := commands.CancelInvitation{OrganizationID: "acme", InvitationID: testInvitationID, Actor: "user-1", MayManagePrivileged: admin}
		if !reflect.DeepEqual(h.commands.got, want) {
			t.Errorf("ran %+v; want %+v", h.commands.got, want)
		}
	}
	h := newHarness(t)
	h.commands.err = domain.ErrInvitationAlreadyAccepted
	wantProblem(t, h.serve(http.MethodDelete, invitationPath, bearer(t, auth.PermOrgUserInvite), ""), http.StatusConflict, "organization.invitation_already_accepted")
}

func TestResendInvitation(t *testing.T) {
	inv := testInvitation()
	result := commands.ResendInvitationResult{Organization: domain.Organization{ID: "acme", Name: "Acme Corp"},
		Invitation: commands.CreatedInvitation{Invitation: inv, Token: testToken}}
	for _, tc := range []struct {
		body      string
		admin     bool
		expiresIn time.Duration
	}{
		{"", false, 7 * 24 * time.Hour},
		{"{}", true, 7 * 24 * time.Hour},
		{`{"expires_in":"36h"}`, false, 36 * time.Hour},
		{`{"expires_in":"30d"}`, true, 30 * 24 * time.Hour},
	} {
		h := newHarness(t)
		h.commands.resend = result
		perms := []string{auth.PermOrgUserInvite}
		if tc.admin {
			perms = append(perms, auth.PermOrgAdmin)
		}
		got := decoded[invitationBody](t, h.serve(http.MethodPost, invitationPath+"/resend", bearer(t, perms...), tc.body), http.StatusOK)
		if got.Token != testToken || got.Organization["name"] != "Acme Corp" || got.ID != testInvitationID {
			t.Errorf("%s answered %+v", tc.body, got)
		}
		want := commands.ResendInvitation{OrganizationID: "acme", InvitationID: testInvitationID, ExpiresIn: tc.expiresIn, Actor: "user-1", MayManagePrivileged: tc.admin}
		if !reflect.DeepEqual(h.commands.got, want) {
			t.Errorf("%s ran %+v; want %+v", tc.body, h.commands.got, want)
		}
	}
	for body, field := range map[string]string{`{"expires_in":"59m"}`: "expires_in", `{"expires_in":null,"role":"admin"}`: "role"} {
		h := newHarness(t)
		wantProblem(t, h.serve(http.MethodPost, invitationPath+"/resend", bearer(t, auth.PermOrgUserInvite), body), http.StatusBadRequest, "root.invalid_parameter", field)
		if h.commands.calls != 0 {
			t.Errorf("%s ran %+v", body, h.commands.got)
		}
	}
}

func TestInvitationEvents(t *testing.T) {
	token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead)
	h := newHarness(t)
	got := decoded[listBody](t, h.serve(http.MethodGet, invitationPath+"/events", token, ""), http.StatusOK)
	if len(got.Events) != 1 || got.Events[0].Sequence != 1 || got.Events[0].Type != domain.TypeInvitationCreated || got.Events[0].Actor != "user-1" {
		t.Errorf("answered %+v", got.Events)
	}
	if want := (domain.StreamID{Kind: domain.KindInvitation, OrganizationID: "acme", Key: testInvitationID}); h.events.loaded != want {
		t.Errorf("loaded %+v; want %+v", h.events.loaded, want)
	}
	h.events.stream = nil
	wantProblem(t, h.serve(http.MethodGet, invitationPath+"/events", token, ""), http.StatusNotFound, "organization.invitation_not_found")
}
