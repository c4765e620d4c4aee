package commands_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// behind is an event store that loads some aggregates as empty until Fresh
// finds them moved: a cache that another replica's writes made stale.
type behind struct {
	*eventstore.Memory
	mu     sync.Mutex
	stale  map[domain.StreamID]bool
	checks int // calls of Fresh
}

func (b *behind) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	b.mu.Lock()
	stale := b.stale[id]
	b.mu.Unlock()
	if stale {
		return nil, domain.Position{}, nil
	}
	return b.Memory.Load(ctx, id)
}

func (b *behind) Fresh(ctx context.Context, loaded map[domain.StreamID]domain.Position) (bool, error) {
	fresh, err := b.Memory.Fresh(ctx, loaded)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.checks++
	if !fresh {
		for id := range loaded {
			delete(b.stale, id)
		}
	}
	return fresh, err
}

type caughtUp struct{}

func (caughtUp) WaitFor(context.Context, uint64) {}
func (caughtUp) Ready(context.Context) error     { return nil }
func (caughtUp) InvitationIDByToken(context.Context, string) (string, string, bool, error) {
	return "", "", false, nil
}

// A decision that writes nothing is checked with Fresh, since no append
// checks it: one made on a stale load is decided again on fresh ones. A
// decision that writes is checked by its append alone.
func TestDecisionsThatWriteNothingAreCheckedFresh(t *testing.T) {
	org := domain.StreamID{Kind: domain.KindOrganization, OrganizationID: "acme"}
	setup := func(t *testing.T, registered bool) (*behind, *observer, *commands.Handlers) {
		store := &behind{Memory: eventstore.NewMemory(testkit.Keys(t)), stale: map[domain.StreamID]bool{org: true}}
		if registered {
			e := domain.NewEvent("registered", before, domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "admin"})
			if _, err := store.Memory.Append(t.Context(), []domain.Event{e}, map[domain.StreamID]domain.Position{org: {}}); err != nil {
				t.Fatal(err)
			}
		}
		o := &observer{}
		keys, _, _ := newKeys(t)
		return store, o, commands.New(store, keys, caughtUp{}, func() time.Time { return now }, o)
	}
	create := func(h *commands.Handlers) error {
		_, err := h.CreateInvitations.Handle(t.Context(), commands.CreateInvitations{OrganizationID: "acme",
			Emails: []string{"ada@example.com"}, Role: domain.RoleMember, ExpiresIn: time.Hour, Actor: "admin"})
		return err
	}

	t.Run("a refusal on a stale load is decided again", func(t *testing.T) {
		store, o, h := setup(t, true)
		if err := create(h); err != nil {
			t.Fatalf("create in an organization registered behind the cache's back: %v", err)
		}
		if want := (done{"create_invitations", "written", 2}); o.done[0] != want || store.checks != 1 {
			t.Fatalf("observer heard %+v after %d checks; want %+v after 1", o.done, store.checks, want)
		}
	})
	t.Run("a refusal on fresh loads stands", func(t *testing.T) {
		store, o, h := setup(t, false)
		if err := create(h); !errors.Is(err, domain.ErrOrganizationNotFound) {
			t.Fatalf("create in an unregistered organization: %v", err)
		}
		if want := (done{"create_invitations", "refused", 1}); o.done[0] != want || store.checks != 1 {
			t.Fatalf("observer heard %+v after %d checks; want %+v after 1", o.done, store.checks, want)
		}
	})
	t.Run("a write is checked by its append", func(t *testing.T) {
		store, _, h := setup(t, true)
		delete(store.stale, org)
		if err := create(h); err != nil || store.checks != 0 {
			t.Fatalf("create = %v after %d checks; want written after none", err, store.checks)
		}
	})
}
