package projections_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
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

// BenchmarkRebuildSealed is a rebuild's projection of sealed events
// (invitation.created and membership.added of 1,000 addresses, in batches
// of 100, into memory) with the addresses opened through the key bucket:
// "cold" with an empty key cache, as a rebuild starts (one read of the
// bucket per address), "warm" with every key cached; "kept sealed" opens
// nothing, the cost of the projection alone.
func BenchmarkRebuildSealed(b *testing.B) {
	nc := testkit.StartNATS(b, false).Connect(b, eventstore.RoleService)
	kek, err := keystore.LoadKEK(testkit.KEKFile(b))
	if err != nil {
		b.Fatal(err)
	}
	keys := testkit.KeyStoreWith(b, nc, kek)
	ctx := context.Background()
	const addresses = 1000
	var events []domain.Delivered
	add := func(p domain.Payload) {
		sealed, err := keys.Seal(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		e := domain.NewEvent(fmt.Sprint("e-", len(events)), benchNow, sealed)
		data, err := domain.MarshalCloudEvent(e)
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, domain.DecodeDelivered(uint64(len(events)+1), "", data))
	}
	for i := range addresses {
		email, id := fmt.Sprintf("person.%d@example.com", i), fmt.Sprintf("0193a1f4-7c2e-7d3a-8b1e-%012x", i)
		h, err := keys.EmailHMAC(ctx, "acme", email)
		if err != nil {
			b.Fatal(err)
		}
		add(domain.InvitationCreated{OrganizationID: "acme", InvitationID: id, Email: email, EmailHMAC: h, EmailSealed: &domain.Sealed{Generation: 1},
			Role: domain.RoleMember, TokenSHA256: domain.SHA256(id), ExpiresAt: benchNow.Add(time.Hour), Actor: "admin"})
		add(domain.MembershipAdded{OrganizationID: "acme", UserID: "user-" + id, Email: email, EmailHMAC: h, EmailSealed: &domain.Sealed{Generation: 1},
			Role: domain.RoleMember, InvitationID: id, Actor: "user-" + id})
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	rebuild := func(b *testing.B, personal func() projections.PersonalData) {
		for b.Loop() {
			b.StopTimer()
			p := projections.NewProjector(projections.NewMemoryStore(), personal(), quiet())
			b.StartTimer()
			for i := 0; i < len(events); i += 100 {
				if _, err := p.Project(ctx, events[i:min(i+100, len(events))]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("cold", func(b *testing.B) {
		rebuild(b, func() projections.PersonalData {
			s, err := keystore.Open(ctx, js, kek, nil, keystore.ReadOnly())
			if err != nil {
				b.Fatal(err)
			}
			return s
		})
	})
	b.Run("warm", func(b *testing.B) { rebuild(b, func() projections.PersonalData { return keys }) })
	b.Run("kept-sealed", func(b *testing.B) { rebuild(b, func() projections.PersonalData { return projections.KeepSealed{} }) })
}
