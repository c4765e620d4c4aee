package projections_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

// The projection's hot paths on the memory store: applying an event
// (decode, fill, apply), the token look-up and a list page. The Redis
// store's write is benchmarked in cmd/invitebench (BenchmarkRedisProject),
// against a private redis-server.
//
//	go test -run XXX -bench . -benchmem ./projections/

var benchNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// benchEvent is the stored bytes of invitation.created number i.
func benchEvent(b *testing.B, i int) []byte {
	b.Helper()
	email := fmt.Sprintf("person.%d@example.com", i)
	e := domain.NewEvent(fmt.Sprintf("0193a1f4-7c2e-7d3a-9b1e-%012x", i), benchNow, domain.InvitationCreated{
		OrganizationID: fmt.Sprintf("org-%d", i/500), InvitationID: fmt.Sprintf("0193a1f4-7c2e-7d3a-8b1e-%012x", i),
		Email: email, Role: domain.RoleMember, TokenSHA256: domain.SHA256(fmt.Sprint("token-", i)),
		ExpiresAt: benchNow.Add(7 * 24 * time.Hour), Actor: "admin-user-1"})
	data, err := domain.MarshalCloudEvent(e)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkProjectCreated projects invitation.created events into a memory
// store: decode, read the stored invitation, apply. It reports the heap the
// store keeps per invitation (meaningful from a few thousand invitations:
// -benchtime 100000x).
func BenchmarkProjectCreated(b *testing.B) {
	ctx := context.Background()
	// The heap is measured before the events are made and after they are
	// dropped, so that only what the store keeps counts.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	events := make([][]byte, b.N)
	for i := range events {
		events[i] = benchEvent(b, i)
	}
	store := projections.NewMemoryStore()
	p := projections.NewProjector(store, projections.KeepSealed{}, quiet())
	b.ReportAllocs()
	b.ResetTimer()
	for i, data := range events {
		if _, err := p.Project(ctx, []domain.Delivered{domain.DecodeDelivered(uint64(i+1), "", data)}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	events = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(store)
	b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/float64(b.N), "heap-B/invitation")
}

// BenchmarkMemoryStoreApply is the store's write alone, without decoding.
func BenchmarkMemoryStoreApply(b *testing.B) {
	ctx := context.Background()
	store := projections.NewMemoryStore()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		inv := projections.Invitation{Position: uint64(i), Invitation: domain.Invitation{
			ID: fmt.Sprint("inv-", i), OrganizationID: "acme", Email: "someone@example.com", Role: domain.RoleMember,
			TokenSHA256: fmt.Sprint("token-", i), CreatedAt: benchNow, ExpiresAt: benchNow.Add(time.Hour), Version: 1}}
		if err := store.Apply(ctx, projections.Write{Position: uint64(i), Invitation: &inv}); err != nil {
			b.Fatal(err)
		}
	}
}

// filledStore holds n pending invitations of organization acme.
func filledStore(b *testing.B, n int) (*projections.MemoryStore, []string) {
	b.Helper()
	ctx := context.Background()
	store := projections.NewMemoryStore()
	if err := store.Apply(ctx, projections.Write{Position: 1, Organization: &projections.Organization{ID: "acme", Name: "Acme", CreatedAt: benchNow}}); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, n)
	for i := range n {
		tokens[i] = domain.SHA256(fmt.Sprint("token-", i))
		pos := uint64(i + 2)
		inv := projections.Invitation{Position: pos, Invitation: domain.Invitation{
			ID: fmt.Sprint("inv-", i), OrganizationID: "acme", Email: fmt.Sprintf("person.%d@example.com", i), Role: domain.RoleMember,
			TokenSHA256: tokens[i], CreatedAt: benchNow, ExpiresAt: time.Now().Add(24 * time.Hour), Version: 1}}
		if err := store.Apply(ctx, projections.Write{Position: pos, Invitation: &inv}); err != nil {
			b.Fatal(err)
		}
	}
	return store, tokens
}

// BenchmarkQueriesInvitationByToken is a token look-up's read: the
// invitation by its token's hash with its organization.
func BenchmarkQueriesInvitationByToken(b *testing.B) {
	ctx := context.Background()
	store, tokens := filledStore(b, 10_000)
	q := projections.NewQueries(store, time.Now)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m, err := q.InvitationByToken(ctx, tokens[i%len(tokens)])
		if err != nil || !m.Found || m.Organization.Name == "" {
			b.Fatal(m, err)
		}
	}
}

// BenchmarkQueriesInvitationsPage reads the newest page of 10 pending
// invitations out of 10,000.
func BenchmarkQueriesInvitationsPage(b *testing.B) {
	ctx := context.Background()
	store, _ := filledStore(b, 10_000)
	q := projections.NewQueries(store, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		page, err := q.Invitations(ctx, "acme", projections.StatusFilter(domain.StatusPending), projections.PageRequest{Limit: 10})
		if err != nil || len(page.Items) != 10 {
			b.Fatal(len(page.Items), err)
		}
	}
}
