package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// readStore is a Redis read store of the test's own: its keys under a prefix
// of their own, deleted after the test.
type readStore struct {
	url, prefix string
	client      *redis.Client
	store       *redisstore.Store // follows the generation pointer, as the service
}

func newReadStore(t testing.TB) *readStore {
	t.Helper()
	url := testkit.Redis(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	prefix := "invitectl:" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return &readStore{url: url, prefix: prefix, client: c, store: redisstore.New(c, prefix)}
}

// flags point a command at this store.
func (rs *readStore) flags() []string {
	return []string{"--redis-url", rs.url, "--redis-prefix", rs.prefix}
}

// project applies the stream's events that the store has not applied yet
// with the service's projector, and stops at one it cannot apply, as the
// service's read models do.
func (rs *readStore) project(t testing.TB, f *fixture) error {
	t.Helper()
	r, err := (&common{natsURL: f.url, creds: f.auditor}).open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	cp, err := rs.store.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	projector := projections.NewProjector(rs.store, projections.KeepSealed{}, slog.New(slog.DiscardHandler))
	return r.readRaw(t.Context(), query{fromSeq: cp + 1}, func(m message) error {
		_, err := projector.Project(t.Context(), []domain.Delivered{domain.DecodeDelivered(m.seq, m.subject, m.data)})
		return err
	})
}

// keys lists the store's keys without the prefix, sorted.
func (rs *readStore) keys(t testing.TB) []string {
	t.Helper()
	keys, err := rs.client.Keys(t.Context(), rs.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		keys[i] = strings.TrimPrefix(keys[i], rs.prefix)
	}
	slices.Sort(keys)
	return keys
}

// wantLines checks that out is these lines, in any order.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		got = nil
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEmptyRedisIsRefused: verify and rebuild pointed at a Redis with no
// read models under the prefix (a fresh redis-server, here) say so and
// fail, writing nothing, unless --allow-empty; after a rebuild with it,
// the Redis holds them and verify passes.
func TestEmptyRedisIsRefused(t *testing.T) {
	f := newFixture(t)
	f.append(t, domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme Corp", Actor: "admin"})
	url, _ := testkit.StartRedisServer(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	for _, cmd := range []string{"verify", "rebuild"} {
		out, err := f.try(cmd, "--redis-url", url)
		if err == nil || !strings.Contains(err.Error(), `no read models under the prefix "invitesvc:" in Redis at `+opts.Addr+" db 0") ||
			!strings.Contains(err.Error(), "--allow-empty") || out != "" {
			t.Errorf("%s of an empty Redis: %v (printed %q)", cmd, err, out)
		}
		if n := client.DBSize(t.Context()).Val(); n != 0 {
			t.Errorf("%s refused, but %d keys were written", cmd, n)
		}
	}
	if out, err := f.try("rebuild", "--redis-url", url, "--allow-empty"); err != nil || !strings.Contains(out, "generation 1 is live") {
		t.Fatalf("rebuild --allow-empty: %q, %v", out, err)
	}
	if out, err := f.try("verify", "--redis-url", url); err != nil || out != "" {
		t.Fatalf("verify after the rebuild: %q, %v", out, err)
	}
	// Read models under another prefix are not the prefix's.
	if _, err := f.try("verify", "--redis-url", url, "--redis-prefix", "other:"); err == nil || !strings.Contains(err.Error(), `under the prefix "other:"`) {
		t.Errorf("verify under a prefix with nothing: %v", err)
	}
}
