package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
	"github.com/invitesvc/invitesvc/projections/storetest"
)

// A store pinned to a generation is a store like any other.
func TestPinnedStore(t *testing.T) {
	c := newClient(t, testkit.Redis(t))
	storetest.Run(t, func(t *testing.T) projections.Store {
		return redisstore.New(c, newPrefix(t, c), redisstore.InGeneration(7))
	})
}

// writes are the effects of events 1..n on acme: the organization, then
// invitations i1, i2, ... each created, the second of each pair accepted.
func writes(n int) []projections.Write {
	var ws []projections.Write
	var last projections.Invitation
	for pos := uint64(1); len(ws) < n; pos++ {
		w := projections.Write{Position: pos}
		switch {
		case pos == 1:
			w.Organization = &projections.Organization{ID: "acme", Name: "Acme"}
		case pos%2 == 0:
			last = projections.Invitation{Position: pos, Invitation: domain.Invitation{ID: fmt.Sprint("i", pos),
				OrganizationID: "acme", Email: fmt.Sprintf("u%d@example.com", pos), Role: domain.RoleMember,
				TokenSHA256: domain.SHA256(fmt.Sprint("token", pos)), Version: 1}}
			inv := last
			w.Invitation = &inv
		default:
			inv := last
			inv.AcceptedBy, inv.Version = "user", 2
			inv.AcceptedAt = inv.CreatedAt.AddDate(1, 0, 0)
			w.Invitation = &inv
			w.Member = &projections.Member{OrganizationID: "acme", UserID: fmt.Sprint("user", pos), Position: pos}
		}
		ws = append(ws, w)
	}
	return ws
}

func applyAll(t *testing.T, s projections.Store, ws []projections.Write) {
	t.Helper()
	for _, w := range ws {
		if err := s.Apply(t.Context(), w); err != nil {
			t.Fatalf("apply %d: %v", w.Position, err)
		}
	}
}

// keysUnder lists the keys under prefix, without it, sorted.
func keysUnder(t *testing.T, c *redis.Client, prefix string) []string {
	t.Helper()
	keys, err := c.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		keys[i] = strings.TrimPrefix(keys[i], prefix)
	}
	slices.Sort(keys)
	return keys
}

func wantCheckpoint(t *testing.T, s projections.Store, want uint64) {
	t.Helper()
	if cp, err := s.Checkpoint(t.Context()); err != nil || cp != want {
		t.Fatalf("checkpoint %d, %v; want %d", cp, err, want)
	}
}

func TestRebuildSwitchesAtOnce(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix := newPrefix(t, c)
	live := redisstore.New(c, prefix)
	ws := writes(9)
	applyAll(t, live, ws[:5])
	gen0Keys := keysUnder(t, c, prefix)

	r, err := redisstore.BeginRebuild(ctx, c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Generation != 1 || r.From != 0 {
		t.Fatalf("generation %d from %d; want 1 from 0", r.Generation, r.From)
	}
	if _, err := redisstore.BeginRebuild(ctx, c, prefix); !errors.Is(err, redisstore.ErrRebuildRunning) {
		t.Fatalf("second rebuild: %v; want ErrRebuildRunning", err)
	}

	loader := redisstore.NewLoader(r.Store(), 2)
	applyAll(t, loader, ws[:3])
	if err := loader.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Behind the live generation: no switch, and the live one serves on.
	if ok, lcp, bcp, err := r.Switch(ctx); ok || err != nil || lcp != 5 || bcp != 3 {
		t.Fatalf("switch while behind = %v, %d, %d, %v; want false, 5, 3", ok, lcp, bcp, err)
	}
	wantCheckpoint(t, live, 5)
	// Ahead is fine: the live projector meets its next events as applied.
	applyAll(t, loader, ws[3:6])
	if err := loader.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, lcp, bcp, err := r.Switch(ctx); !ok || err != nil || lcp != 5 || bcp != 6 {
		t.Fatalf("switch = %v, %d, %d, %v; want true, 5, 6", ok, lcp, bcp, err)
	}
	wantCheckpoint(t, live, 6)
	if g, err := live.Generation(ctx); g != 1 || err != nil {
		t.Fatalf("live generation %d, %v", g, err)
	}
	if err := live.Apply(ctx, ws[5]); !errors.Is(err, projections.ErrAlreadyApplied) {
		t.Fatalf("the service's next write: %v; want already applied", err)
	}
	applyAll(t, live, ws[6:])
	if m, err := live.InvitationByToken(ctx, ws[7].Invitation.TokenSHA256); err != nil || !m.Found || m.Invitation.ID != ws[7].Invitation.ID ||
		m.Organization.Name != "Acme" || m.Checkpoint != 9 {
		t.Fatalf("token of %s after the switch: %+v, %v", ws[7].Invitation.ID, m, err)
	}

	n, err := r.Cleanup(ctx)
	if err != nil || n != len(gen0Keys) {
		t.Fatalf("cleanup deleted %d keys, %v; want the %d of generation 0", n, err, len(gen0Keys))
	}
	for _, k := range keysUnder(t, c, prefix) {
		if !strings.HasPrefix(k, "g1:") && !slices.Contains([]string{"generation", "generation-seq", "rebuild-lock"}, k) {
			t.Errorf("key %q left after the cleanup", k)
		}
	}
	wantCheckpoint(t, live, 9)

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := redisstore.BeginRebuild(ctx, c, prefix)
	if err != nil {
		t.Fatalf("rebuild after a finished one: %v", err)
	}
	defer r2.Close()
	if r2.Generation != 2 || r2.From != 1 {
		t.Fatalf("generation %d from %d; want 2 from 1", r2.Generation, r2.From)
	}
}

// An interrupted rebuild's generation is never reused: the next rebuild
// takes a new number, and its cleanup deletes the leftovers, never the
// live generation.
func TestInterruptedRebuild(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix := newPrefix(t, c)
	live := redisstore.New(c, prefix)
	ws := writes(4)
	applyAll(t, live, ws)

	r, err := redisstore.BeginRebuild(ctx, c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	loader := redisstore.NewLoader(r.Store(), 100)
	applyAll(t, loader, ws[:2])
	if err := loader.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close() // interrupted before its switch, without cleaning up

	r2, err := redisstore.BeginRebuild(ctx, c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.Generation != 2 {
		t.Fatalf("generation %d; want 2", r2.Generation)
	}
	// Without a switch, cleanup takes the rebuild's own and older leftovers.
	loader = redisstore.NewLoader(r2.Store(), 1)
	applyAll(t, loader, ws[:1])
	if err := loader.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range keysUnder(t, c, prefix) {
		if strings.HasPrefix(k, "g") && !strings.HasPrefix(k, "generation") {
			t.Errorf("key %q left", k)
		}
	}
	wantCheckpoint(t, live, 4)
	if _, ok, err := live.Invitation(ctx, "acme", ws[3].Invitation.ID); !ok || err != nil {
		t.Fatalf("the live generation lost an invitation: %v, %v", ok, err)
	}
}

func TestSwitchNeedsTheLock(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix := newPrefix(t, c)
	r, err := redisstore.BeginRebuild(ctx, c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.Set(ctx, prefix+"rebuild-lock", "someone else", 0)
	if ok, _, _, err := r.Switch(ctx); ok || !errors.Is(err, redisstore.ErrLockLost) {
		t.Fatalf("switch without the lock = %v, %v", ok, err)
	}
	if g, _ := redisstore.New(c, prefix).Generation(ctx); g != 0 {
		t.Fatalf("live generation %d after a refused switch", g)
	}
	r.Close()
	if v := c.Get(ctx, prefix+"rebuild-lock").Val(); v != "someone else" {
		t.Fatalf("close released a lock that was not its own: %q", v)
	}
}

// The loader writes what Apply would, and fails when something else wrote to
// its generation.
func TestLoader(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	ws := writes(11)

	direct, loaded := redisstore.New(c, newPrefix(t, c)), redisstore.New(c, newPrefix(t, c), redisstore.InGeneration(3))
	applyAll(t, direct, ws)
	loader := redisstore.NewLoader(loaded, 4)
	applyAll(t, loader, ws)
	if err := loader.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantCheckpoint(t, loaded, 11)
	for _, b := range []projections.Bucket{projections.BucketAll, projections.BucketOpen, projections.BucketAccepted} {
		want, err1 := direct.Invitations(ctx, "acme", b, 0, projections.Newer, 100)
		got, err2 := loaded.Invitations(ctx, "acme", b, 0, projections.Newer, 100)
		if err1 != nil || err2 != nil || !slices.Equal(got.Items, want.Items) || len(want.Items) == 0 && b != projections.BucketOpen {
			t.Fatalf("bucket %s: loaded %v (%v), applied %v (%v)", b, got, err2, want, err1)
		}
	}
	wantMembers, _ := direct.Members(ctx, "acme", 0, projections.Newer, 100)
	if got, err := loaded.Members(ctx, "acme", 0, projections.Newer, 100); err != nil || len(got.Items) != 5 || !slices.Equal(got.Items, wantMembers.Items) {
		t.Fatalf("members: loaded %v (%v), applied %v", got, err, wantMembers)
	}

	target := redisstore.New(c, newPrefix(t, c), redisstore.InGeneration(1))
	loader = redisstore.NewLoader(target, 10)
	applyAll(t, target, ws[:1]) // someone else
	applyAll(t, loader, ws[:2])
	if err := loader.Flush(ctx); !errors.Is(err, projections.ErrAlreadyApplied) {
		t.Fatalf("flush over a foreign write: %v; want it refused as already applied", err)
	}
}
