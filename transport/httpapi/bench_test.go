package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

// The HTTP layer's own hot paths: the JSON encoding of resources, and the
// token look-up handler over a memory store (no network, no router).
//
//	go test -run XXX -bench . -benchmem ./transport/httpapi/

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

var benchNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func benchInvitation(i int) domain.Invitation {
	return domain.Invitation{ID: fmt.Sprintf("0193a1f4-7c2e-7d3a-9b1e-%012x", i), OrganizationID: "acme-corporation",
		Email: fmt.Sprintf("firstname.lastname.%d@example.com", i), Role: domain.RoleMember,
		TokenSHA256: domain.SHA256(fmt.Sprint("token-", i)), CreatedAt: benchNow.Add(-time.Hour), CreatedBy: "admin-user-1",
		ExpiresAt: benchNow.Add(7 * 24 * time.Hour), Version: 1}
}

// BenchmarkInvitationResourceJSON is the body of a token look-up or a
// create of one invitation: the resource built and encoded.
func BenchmarkInvitationResourceJSON(b *testing.B) {
	inv := benchInvitation(1)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		out := newInvitationResource(inv, "Acme Corporation", benchNow)
		out.Token = "dGhpcyBpcyBhIDQzIGNoYXJhY3RlciB0b2tlbiBvayB"
		writeJSON(w, http.StatusOK, out)
	}
}

// BenchmarkListPageJSON is the body of a list page of 10 with its links.
func BenchmarkListPageJSON(b *testing.B) {
	items := make([]projections.Invitation, 10)
	for i := range items {
		items[i] = projections.Invitation{Invitation: benchInvitation(i), Position: uint64(1000 - i)}
	}
	page := projections.Page[projections.Invitation]{Items: items, HasNext: true, HasPrev: true}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/organizations/acme-corporation/invitations?status=pending&limit=10", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		out := make([]invitationResource, len(page.Items))
		for i, inv := range page.Items {
			out[i] = newInvitationResource(inv.Invitation, "Acme Corporation", benchNow)
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"invitations": out,
			"links":       pageLinks(r, page, func(i projections.Invitation) uint64 { return i.Position }),
		})
	}
}

// BenchmarkLookupHandler is the token look-up handler over a memory store:
// token check, hashing, the two store reads with their checkpoint checks,
// the resource and its encoding; no router, middleware or network.
func BenchmarkLookupHandler(b *testing.B) {
	ctx := context.Background()
	store := projections.NewMemoryStore()
	token := "dGhpcyBpcyBhIDQzIGNoYXJhY3RlciB0b2tlbiBvayB"
	inv := benchInvitation(1)
	inv.TokenSHA256, inv.ExpiresAt = domain.SHA256(token), time.Now().Add(time.Hour)
	for i, w := range []projections.Write{
		{Organization: &projections.Organization{ID: inv.OrganizationID, Name: "Acme Corporation", CreatedAt: benchNow}},
		{Invitation: &projections.Invitation{Invitation: inv, Position: 2}},
	} {
		w.Position = uint64(i + 1)
		if err := store.Apply(ctx, w); err != nil {
			b.Fatal(err)
		}
	}
	s := &server{Deps: Deps{Queries: projections.NewQueries(store, time.Now), Limiter: NewFailureLimiter(6000, 1000), Now: time.Now}}
	req := mux.SetURLVars(httptest.NewRequest(http.MethodGet, "/api/v1/organizations/invitations/"+token, nil),
		map[string]string{"invitation_token": token})
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.lookupByToken(w, req); err != nil {
			b.Fatal(err)
		}
	}
}
