package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// reader is a Verifier that lets any token read acme.
type reader struct{}

func (reader) Verify(string) (auth.Principal, error) {
	return auth.Principal{Subject: "user-1", Permissions: map[string][]string{"acme": {auth.PermOrgRead, auth.PermOrgUserRead}}}, nil
}

// TestListPageStoreCalls checks the store calls of list pages: after the
// organization's read and its check, one scan, whose checkpoint spares
// another Checkpoint call, and which reads no more than the page needs
// unless a status filter may drop records.
func TestListPageStoreCalls(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	store := &recordingStore{Store: projections.NewMemoryStore()}
	writes := []projections.Write{{Position: 1, Organization: &projections.Organization{ID: "acme", Name: "Acme", CreatedAt: now}}}
	for i := range 15 {
		inv := projections.Invitation{Position: uint64(2*i + 2), Invitation: domain.Invitation{ID: fmt.Sprint("inv-", i), OrganizationID: "acme",
			Email: fmt.Sprintf("person.%d@example.com", i), Role: domain.RoleMember, TokenSHA256: domain.SHA256(fmt.Sprint("token-", i)),
			CreatedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1}}
		m := projections.Member{OrganizationID: "acme", UserID: fmt.Sprint("user-", i), Email: inv.Email, Role: domain.RoleMember,
			JoinedAt: now, Position: inv.Position + 1}
		writes = append(writes, projections.Write{Position: inv.Position, Invitation: &inv}, projections.Write{Position: m.Position, Member: &m})
	}
	for _, w := range writes {
		if err := store.Apply(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	s := &server{Deps: Deps{Queries: projections.NewQueries(store, time.Now), Verifier: reader{}, Now: time.Now}}
	checked := []string{"Organization", "Checkpoint"} // the organization's read
	for _, tc := range []struct {
		list, query string
		want        []string
	}{
		{"invitations", "status=all", []string{"Invitations all 11"}},
		{"invitations", "status=accepted", []string{"Invitations accepted 11"}},
		{"invitations", "status=pending", []string{"Invitations open 32"}},
		// A page after a cursor looks for a newer record too.
		{"invitations", "status=all&starting_after=" + projections.EncodeCursor(10), []string{"Invitations all 11", "Invitations all 1"}},
		{"members", "", []string{"Members 11"}},
	} {
		store.calls = nil
		req := httptest.NewRequest(http.MethodGet, "/?limit=10&"+tc.query, nil)
		req.Header.Set("Authorization", "Bearer x")
		req = mux.SetURLVars(req, map[string]string{"organization_id": "acme"})
		handler := s.listInvitations
		if tc.list == "members" {
			handler = s.listMembers
		}
		rec := httptest.NewRecorder()
		if err := handler(rec, req); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("%s?%s: %d, %v", tc.list, tc.query, rec.Code, err)
		}
		if want := append(slices.Clone(checked), tc.want...); !slices.Equal(store.calls, want) {
			t.Errorf("%s?%s made %v; want %v", tc.list, tc.query, store.calls, want)
		}
	}
}
