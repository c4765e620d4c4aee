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

func TestListMembers(t *testing.T) {
	h := newHarness(t)
	h.queries.members = projections.Page[projections.Member]{HasNext: true, Items: []projections.Member{
		{OrganizationID: "acme", UserID: "user-2", Role: domain.RoleAdmin, JoinedAt: testNow, Position: 12},
		{OrganizationID: "acme", UserID: "user-1", Role: domain.RoleOwner, JoinedAt: testNow, Position: 11},
	}}
	path := orgPath + "/members?limit=10"
	got := decoded[listBody](t, h.serve(http.MethodGet, path, bearer(t, auth.PermOrgRead, auth.PermOrgUserRead), ""), http.StatusOK)
	if len(got.Members) != 2 || got.Members[0].UserID != "user-2" || got.Members[1].UserID != "user-1" {
		t.Errorf("members %+v", got.Members)
	}
	want := map[string]string{"self": path, "next": orgPath + "/members?limit=10&starting_after=" + projections.EncodeCursor(11)}
	if !reflect.DeepEqual(got.Links, want) {
		t.Errorf("links %v; want %v", got.Links, want)
	}
	if h.queries.page != (projections.PageRequest{Limit: 10}) {
		t.Errorf("listed %+v", h.queries.page)
	}
}

func TestRemoveMember(t *testing.T) {
	token := bearer(t, auth.PermOrgAdmin)
	// The router matches encoded paths, so a user id may hold a slash.
	for escaped, user := range map[string]string{"user-2": "user-2", "auth0%7Cabc%2Fdef": "auth0|abc/def", strings.Repeat("u", 255): strings.Repeat("u", 255)} {
		h := newHarness(t)
		rec := h.serve(http.MethodDelete, orgPath+"/members/"+escaped, token, "")
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Errorf("%s answered %d %q", escaped, rec.Code, rec.Body)
		}
		if want := (commands.RemoveMember{OrganizationID: "acme", UserID: user, Actor: "user-1"}); !reflect.DeepEqual(h.commands.got, want) {
			t.Errorf("ran %+v; want %+v", h.commands.got, want)
		}
	}
	// No user id is longer than a token's subject may be.
	h := newHarness(t)
	wantProblem(t, h.serve(http.MethodDelete, orgPath+"/members/"+strings.Repeat("u", domain.MaxUserIDBytes+1), token, ""), http.StatusNotFound, "organization.member_not_found", "user_id")
	if h.commands.calls != 0 {
		t.Errorf("a too long user id ran %+v", h.commands.got)
	}
	h.commands.err = domain.ErrMemberNotFound
	wantProblem(t, h.serve(http.MethodDelete, orgPath+"/members/user-3", token, ""), http.StatusNotFound, "organization.member_not_found", "user_id")
}

func TestOrganizationEvents(t *testing.T) {
	token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead)
	var feed []domain.Recorded
	for i := range 12 {
		e := testCreated(uint64(i+1), testNow.Add(time.Duration(i)*time.Hour))
		if i%3 == 2 {
			e.Event = domain.NewEvent(fmt.Sprint("event-", i), e.Time, domain.InvitationCancelled{OrganizationID: "acme", InvitationID: testInvitationID, Actor: "user-2"})
		}
		feed = append(feed, e)
	}
	at := func(hours int) string { return testNow.Add(time.Duration(hours) * time.Hour).Format(time.RFC3339) }
	for _, tc := range []struct {
		query string
		want  []uint64
		next  bool
	}{
		{"", []uint64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3}, true},
		{"?starting_after=" + projections.EncodeCursor(3), []uint64{2, 1}, false},
		{"?type=invitation.cancelled", []uint64{12, 9, 6, 3}, false},
		// since is inclusive, until exclusive.
		{"?since=" + at(4) + "&until=" + at(7), []uint64{7, 6, 5}, false},
		{"?type=invitation.created&since=" + at(9), []uint64{11, 10}, false},
	} {
		h := newHarness(t)
		h.events.feed = feed
		got := decoded[listBody](t, h.serve(http.MethodGet, orgPath+"/events"+tc.query, token, ""), http.StatusOK)
		seqs := make([]uint64, len(got.Events))
		for i, e := range got.Events {
			seqs[i] = e.Sequence
		}
		if !reflect.DeepEqual(seqs, tc.want) || (got.Links["next"] != "") != tc.next {
			t.Errorf("%q answered %v, links %v; want %v, next %v", tc.query, seqs, got.Links, tc.want, tc.next)
		}
	}
}
