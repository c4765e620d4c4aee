package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

// recordingStore notes which store calls a request makes.
type recordingStore struct {
	projections.Store
	mu    sync.Mutex
	calls []string
}

func (r *recordingStore) note(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recordingStore) InvitationByToken(ctx context.Context, h string) (projections.TokenMatch, error) {
	r.note("InvitationByToken")
	return r.Store.InvitationByToken(ctx, h)
}

// Organization and Checkpoint are recorded to catch a look-up that makes
// more than its one call.
func (r *recordingStore) Organization(ctx context.Context, id string) (projections.Organization, bool, error) {
	r.note("Organization")
	return r.Store.Organization(ctx, id)
}

func (r *recordingStore) Checkpoint(ctx context.Context) (uint64, error) {
	r.note("Checkpoint")
	return r.Store.Checkpoint(ctx)
}

// The scans are recorded with their bucket and size.
func (r *recordingStore) Invitations(ctx context.Context, org string, b projections.Bucket, cursor uint64, d projections.Direction, n int) (projections.Scan[projections.Invitation], error) {
	r.note(fmt.Sprintf("Invitations %s %d", b, n))
	return r.Store.Invitations(ctx, org, b, cursor, d, n)
}

func (r *recordingStore) Members(ctx context.Context, org string, cursor uint64, d projections.Direction, n int) (projections.Scan[projections.Member], error) {
	r.note(fmt.Sprintf("Members %d", n))
	return r.Store.Members(ctx, org, cursor, d, n)
}

// TestLookupDoesTheSameWorkForAnyToken checks that a token that exists and
// one that does not cost the same store calls, so that timing tells nothing:
// one call each, which reads the organization and the checkpoint too.
func TestLookupDoesTheSameWorkForAnyToken(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	store := &recordingStore{Store: projections.NewMemoryStore()}
	token := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	inv := domain.Invitation{ID: "inv-1", OrganizationID: "acme", Email: "ada@example.com", Role: domain.RoleMember,
		TokenSHA256: domain.SHA256(token), CreatedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1}
	for i, w := range []projections.Write{
		{Organization: &projections.Organization{ID: "acme", Name: "Acme", CreatedAt: now}},
		{Invitation: &projections.Invitation{Invitation: inv, Position: 2}},
	} {
		w.Position = uint64(i + 1)
		if err := store.Apply(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	s := &server{Deps: Deps{Queries: projections.NewQueries(store, time.Now), Limiter: NewFailureLimiter(6000, 1000), Now: time.Now}}
	var body string
	lookup := func(tok string) (int, []string) {
		store.calls = nil
		req := mux.SetURLVars(httptest.NewRequest(http.MethodGet, "/", nil), map[string]string{"invitation_token": tok})
		rec := httptest.NewRecorder()
		if err := s.lookupByToken(rec, req); err != nil {
			p, _ := toProblem(err)
			return p.status, slices.Clone(store.calls)
		}
		body = rec.Body.String()
		return rec.Code, slices.Clone(store.calls)
	}
	hit, hitCalls := lookup(token)
	miss, missCalls := lookup("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
	if hit != http.StatusOK || miss != http.StatusNotFound {
		t.Fatalf("statuses %d and %d", hit, miss)
	}
	if !strings.Contains(body, `"organization":{"id":"acme","name":"Acme"}`) {
		t.Errorf("the hit answered %s; want the organization's name", body)
	}
	if want := []string{"InvitationByToken"}; !slices.Equal(hitCalls, want) || !slices.Equal(missCalls, want) {
		t.Fatalf("a hit makes %v, a miss %v", hitCalls, missCalls)
	}
}
