package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// The projection's Redis write, and the Redis reads of a token look-up and of
// a list page, against a private redis-server on a free port (or REDIS_URL,
// keys under a prefix of their own), one call at a time: each is Redis round
// trips.
//
//	go test -run XXX -bench Redis -benchmem ./cmd/invitebench/

func benchRedis(b *testing.B) (*redis.Client, string) {
	b.Helper()
	opts, err := redis.ParseURL(testkit.Redis(b))
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	prefix := "invitebench-" + randomHex(4) + ":"
	b.Cleanup(func() {
		_, _ = deleteKeys(context.Background(), rdb, prefix)
		_ = rdb.Close()
	})
	return rdb, prefix
}

// createdEvents is n stored invitation.created events, at positions 1 to n.
func createdEvents(b *testing.B, n int) []stored {
	b.Helper()
	now := time.Now()
	events := make([]stored, n)
	for i := range events {
		e := createEvents(fmt.Sprintf("org-%d", i/500), fmt.Sprintf("person.%d@invitebench.example", i), now)[0]
		data, err := domain.MarshalCloudEvent(e)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = stored{seq: uint64(i + 1), data: data}
	}
	return events
}

// stored is an event as the stream holds it, to be decoded in the timed loop.
type stored struct {
	seq  uint64
	data []byte
}

// projectorAndEvents is a projector over a fresh Redis store and b.N events
// for it, with the benchmark's timer started after making them.
func projectorAndEvents(b *testing.B) (*projections.Projector, []stored) {
	rdb, prefix := benchRedis(b)
	p := projections.NewProjector(redisstore.New(rdb, prefix), projections.KeepSealed{}, quietLogger())
	events := createdEvents(b, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	return p, events
}

// BenchmarkRedisProjectCreated projects invitation.created events into the
// Redis store one at a time: decode, apply the write script.
func BenchmarkRedisProjectCreated(b *testing.B) {
	ctx := context.Background()
	p, events := projectorAndEvents(b)
	for _, e := range events {
		if _, err := p.Project(ctx, []domain.Delivered{domain.DecodeDelivered(e.seq, "", e.data)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisProjectBatch projects the same events as the service's
// projector does under load, 256 to a batch: one checkpoint read, one
// pipeline of script calls. ns/op is per event.
func BenchmarkRedisProjectBatch(b *testing.B) {
	ctx := context.Background()
	p, events := projectorAndEvents(b)
	batch := make([]domain.Delivered, 0, 256)
	for len(events) > 0 {
		n := min(256, len(events))
		batch = batch[:0]
		for _, e := range events[:n] {
			batch = append(batch, domain.DecodeDelivered(e.seq, "", e.data))
		}
		if _, err := p.Project(ctx, batch); err != nil {
			b.Fatal(err)
		}
		events = events[n:]
	}
}

// BenchmarkRedisApply is the write script alone (one round trip), without
// decoding or the read before it.
func BenchmarkRedisApply(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := benchRedis(b)
	store := redisstore.New(rdb, prefix)
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		inv := projections.Invitation{Position: uint64(i), Invitation: domain.Invitation{
			ID: fmt.Sprint("inv-", i), OrganizationID: "acme", Email: "someone@example.com", Role: domain.RoleMember,
			TokenSHA256: domain.SHA256(fmt.Sprint("token-", i)), CreatedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1}}
		if err := store.Apply(ctx, projections.Write{Position: uint64(i), Invitation: &inv}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisLookupReads is what a token look-up asks the Redis store,
// through projections.Queries: one script reading the invitation by token,
// its organization and the checkpoint.
func BenchmarkRedisLookupReads(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := benchRedis(b)
	store := redisstore.New(rdb, prefix)
	now := time.Now()
	const n = 1000
	tokens := make([]string, n)
	if err := store.Apply(ctx, projections.Write{Position: 1, Organization: &projections.Organization{ID: "acme", Name: "Acme", CreatedAt: now}}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		tokens[i] = domain.SHA256(fmt.Sprint("token-", i))
		inv := projections.Invitation{Position: uint64(i + 2), Invitation: domain.Invitation{
			ID: fmt.Sprint("inv-", i), OrganizationID: "acme", Email: "someone@example.com", Role: domain.RoleMember,
			TokenSHA256: tokens[i], CreatedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1}}
		if err := store.Apply(ctx, projections.Write{Position: uint64(i + 2), Invitation: &inv}); err != nil {
			b.Fatal(err)
		}
	}
	q := projections.NewQueries(store, time.Now)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m, err := q.InvitationByToken(ctx, tokens[i%n])
		if err != nil || !m.Found || m.Organization.Name == "" {
			b.Fatal(m, err)
		}
	}
}

// BenchmarkRedisListPage is what a list page of 10 asks the Redis store,
// through projections.Queries, out of 300 pending invitations: by status
// (the open bucket, filtered) and unfiltered (status all).
func BenchmarkRedisListPage(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := benchRedis(b)
	store := redisstore.New(rdb, prefix)
	now := time.Now()
	const n = 300
	for i := range n {
		inv := projections.Invitation{Position: uint64(i + 1), Invitation: domain.Invitation{
			ID: fmt.Sprint("inv-", i), OrganizationID: "acme", Email: fmt.Sprintf("person.%d@example.com", i), Role: domain.RoleMember,
			TokenSHA256: domain.SHA256(fmt.Sprint("token-", i)), CreatedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1}}
		if err := store.Apply(ctx, projections.Write{Position: uint64(i + 1), Invitation: &inv}); err != nil {
			b.Fatal(err)
		}
	}
	q := projections.NewQueries(store, time.Now)
	for _, status := range []projections.StatusFilter{projections.StatusFilter(domain.StatusPending), projections.StatusAll} {
		b.Run(string(status), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := q.Invitations(ctx, "acme", status, projections.PageRequest{Limit: 10})
				if err != nil || len(page.Items) != 10 || !page.HasNext {
					b.Fatal(len(page.Items), err)
				}
			}
		})
	}
}

// BenchmarkRedisGet is one plain GET: a Redis round trip, the floor of the above.
func BenchmarkRedisGet(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := benchRedis(b)
	if err := rdb.Set(ctx, prefix+"k", "v", 0).Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := rdb.Get(ctx, prefix+"k").Err(); err != nil {
			b.Fatal(err)
		}
	}
}
