package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
	"github.com/invitesvc/invitesvc/projections/storetest"
)

func newClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// newPrefix returns a key prefix of t's own, and deletes its keys after t:
// the server may be shared (REDIS_URL), so it is never flushed.
func newPrefix(t *testing.T, c *redis.Client) string {
	prefix := "storetest:" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("delete the test's keys: %v", err)
		}
	})
	return prefix
}

func TestStore(t *testing.T) {
	c := newClient(t, testkit.Redis(t))
	storetest.Run(t, func(t *testing.T) projections.Store { return redisstore.New(c, newPrefix(t, c)) })
}

// TestKeyLayout pins the documented keys: operators and migrations rely on them.
func TestKeyLayout(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix := newPrefix(t, c)
	s := redisstore.New(c, prefix)
	inv := projections.Invitation{Position: 2, Invitation: domain.Invitation{ID: "a", OrganizationID: "acme",
		Email: "ada@example.com", Role: domain.RoleMember, TokenSHA256: "ab12", Version: 1}}
	m := projections.Member{OrganizationID: "acme", UserID: "user-1", Role: domain.RoleMember, Position: 3}
	for _, w := range []projections.Write{
		{Position: 1, Organization: &projections.Organization{ID: "acme", Name: "Acme"}},
		{Position: 2, Invitation: &inv},
		{Position: 3, Member: &m},
	} {
		if err := s.Apply(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	user := sha256.Sum256([]byte("user-1"))
	want := map[string]string{
		"org:{acme}":       "string",
		"inv:{acme}:a":     "hash",
		"invs:{acme}:all":  "zset",
		"invs:{acme}:open": "zset",
		"mem:{acme}:" + hex.EncodeToString(user[:]): "hash",
		"mems:{acme}": "zset",
		"tok:ab12":    "string",
		"checkpoint":  "string",
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range keys {
		got[k[len(prefix):]] = c.Type(ctx, k).Val()
	}
	if !maps.Equal(got, want) {
		t.Fatalf("keys = %v; want %v", got, want)
	}
	h := c.HGetAll(ctx, prefix+"inv:{acme}:a").Val()
	if h["v"] != "1" || h["tok"] != "ab12" || h["b"] != "open" || h["p"] != "2" || h["doc"] == "" {
		t.Fatalf("invitation hash = %v", h)
	}
	if v := c.Get(ctx, prefix+"tok:ab12").Val(); v != prefix+"inv:{acme}:a" {
		t.Fatalf("token key holds %q", v)
	}
	if v := c.Get(ctx, prefix+"checkpoint").Val(); v != "3" {
		t.Fatalf("checkpoint key holds %q", v)
	}

	// A removed member leaves nothing behind.
	if err := s.Apply(ctx, projections.Write{Position: 4,
		RemovedMember: &projections.MemberKey{OrganizationID: "acme", UserID: "user-1"}}); err != nil {
		t.Fatal(err)
	}
	memKey := prefix + "mem:{acme}:" + hex.EncodeToString(user[:])
	if n := c.Exists(ctx, memKey, prefix+"mems:{acme}").Val(); n != 0 {
		t.Fatalf("%d member keys left after the removal", n)
	}
}

func TestScanSkipsMissingRecords(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix := newPrefix(t, c)
	s := redisstore.New(c, prefix)
	var invs []projections.Invitation
	for i, id := range []string{"a", "b", "c"} {
		inv := projections.Invitation{Position: uint64(i + 1), Invitation: domain.Invitation{ID: id,
			OrganizationID: "acme", TokenSHA256: id, Version: 1}}
		if err := s.Apply(ctx, projections.Write{Position: inv.Position, Invitation: &inv}); err != nil {
			t.Fatal(err)
		}
		invs = append(invs, inv)
	}
	c.Del(ctx, prefix+"inv:{acme}:b")
	got, err := s.Invitations(ctx, "acme", projections.BucketAll, 0, projections.Older, 3)
	if err != nil || len(got.Items) != 2 || got.Items[0] != invs[2] || got.Items[1] != invs[0] || got.Checkpoint != 3 {
		t.Fatalf("Invitations = %+v, %v; want c and a", got, err)
	}
}

// TestUnreachable: once Redis is gone every method fails with an error that
// is none of the store's verdicts and wraps the client's, so callers answer
// "unavailable" instead of "not found" or "already applied".
func TestUnreachable(t *testing.T) {
	ctx := t.Context()
	url, stop := testkit.StartRedisServer(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries, opts.DialerRetries = -1, 1 // fail fast: the test expects failures
	c := redis.NewClient(opts)
	defer c.Close()
	s := redisstore.New(c, "unreachable:")
	if err := s.Apply(ctx, projections.Write{Position: 1}); err != nil {
		t.Fatal(err)
	}
	stop()
	inv := projections.Invitation{Invitation: domain.Invitation{ID: "a", OrganizationID: "acme", Version: 1}}
	calls := map[string]func() error{
		"Apply":             func() error { return s.Apply(ctx, projections.Write{Position: 2, Invitation: &inv}) },
		"Checkpoint":        func() error { _, err := s.Checkpoint(ctx); return err },
		"Organization":      func() error { _, _, err := s.Organization(ctx, "acme"); return err },
		"Invitation":        func() error { _, _, err := s.Invitation(ctx, "acme", "a"); return err },
		"InvitationByToken": func() error { _, err := s.InvitationByToken(ctx, "ab12"); return err },
		"Invitations": func() error {
			_, err := s.Invitations(ctx, "acme", projections.BucketAll, 0, projections.Older, 10)
			return err
		},
		"Member":  func() error { _, _, err := s.Member(ctx, "acme", "user-1"); return err },
		"Members": func() error { _, err := s.Members(ctx, "acme", 0, projections.Newer, 10); return err },
		"Ping":    func() error { return s.Ping(ctx) },
	}
	for name, call := range calls {
		err := call()
		var netErr net.Error
		if !errors.As(err, &netErr) {
			t.Errorf("%s = %v; want an error wrapping the network error", name, err)
		}
		for _, verdict := range []error{projections.ErrAlreadyApplied, projections.ErrGap, projections.ErrVersionConflict} {
			if errors.Is(err, verdict) {
				t.Errorf("%s = %v; a verdict, not unavailable", name, err)
			}
		}
	}
}
