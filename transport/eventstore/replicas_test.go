package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// Two replicas of the service, each its own store and cache, write the
// same aggregates: a cache that another replica's writes made stale costs a
// lost race and a retry, or a check before a refusal, never a wrong write
// or a wrong answer.

// replica is the commands of one service replica on its own cached store.
type replica struct {
	store *eventstore.Store
	keys  *keystore.Store
	*commands.Handlers
}

func (r *replicas) replica() replica {
	s := r.store()
	keys := testkit.KeyStoreWith(r.t, r.nats.Connect(r.t, eventstore.RoleService), r.kek)
	return replica{s, keys, commands.New(s, keys, testkit.NoReads{}, time.Now, testkit.NoObserver{})}
}

func (rp replica) register(t *testing.T, org string) {
	t.Helper()
	if _, _, err := rp.RegisterOrganization.Handle(t.Context(), commands.RegisterOrganization{OrganizationID: org, Name: org, Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
}

func (rp replica) create(ctx context.Context, org, email string) (commands.CreateInvitationsResult, error) {
	return rp.CreateInvitations.Handle(ctx, commands.CreateInvitations{OrganizationID: org, Emails: []string{email},
		Role: domain.RoleMember, ExpiresIn: time.Hour, Actor: "admin"})
}

// A refusal decided on a cache that is behind is checked before it is
// answered: a replica that saw an organization missing creates in it once
// another replica registered it.
func TestReplicasRefuseOnlyOnFreshLoads(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	if _, err := a.create(t.Context(), "acme", "ada@example.com"); !errors.Is(err, domain.ErrOrganizationNotFound) {
		t.Fatalf("create in an unregistered organization: %v; want organization not found", err)
	}
	b.register(t, "acme")
	if _, err := a.create(t.Context(), "acme", "ada@example.com"); err != nil {
		t.Fatalf("create once another replica registered the organization: %v", err)
	}
	// The other way round: b saw the email free; a's invitation holds it now.
	if _, err := b.create(t.Context(), "acme", "ada@example.com"); !errors.Is(err, domain.ErrInvitationAlreadyExists) {
		t.Fatalf("second create of one email: %v; want already exists", err)
	}
}

// Concurrent commands on the same aggregates, half on each replica, each
// replica's cache warmed first: exactly one of the racing writes is stored.
func TestReplicasRaceFromStaleCaches(t *testing.T) {
	r := newReplicas(t)
	a, b := r.replica(), r.replica()
	a.register(t, "acme")
	invitation := func(email string) domain.StreamID {
		res, err := a.create(t.Context(), "acme", email)
		if err != nil {
			t.Fatal(err)
		}
		return domain.StreamID{Kind: domain.KindInvitation, OrganizationID: "acme", Key: res.Invitations[0].ID}
	}
	warm := func(ids ...domain.StreamID) {
		for _, rp := range []replica{a, b} {
			for _, id := range ids {
				mustLoad(t, rp.store, id)
			}
		}
	}
	race := func(n int, fn func(rp replica, i int) error) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			rp := []replica{a, b}[i%2]
			wg.Go(func() { errs[i] = fn(rp, i) })
		}
		wg.Wait()
		return errs
	}
	wantOneWinner := func(what string, errs []error, loserErr ...*domain.Error) {
		t.Helper()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !isOneOf(err, loserErr):
				t.Errorf("%s %d: %v", what, i, err)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d won; want 1", what, won)
		}
	}
	uncached := r.store(eventstore.WithCache(0))
	count := func(id domain.StreamID, eventType string) int {
		events, _ := mustLoad(t, uncached, id)
		n := 0
		for _, e := range events {
			if e.Type == eventType {
				n++
			}
		}
		return n
	}

	t.Run("40 accepts of one invitation", func(t *testing.T) {
		inv := invitation("one@example.com")
		warm(inv)
		errs := race(40, func(rp replica, i int) error {
			_, err := rp.AcceptInvitation.Handle(t.Context(), commands.AcceptInvitation{OrganizationID: "acme", InvitationID: inv.Key,
				Caller: domain.Caller{UserID: fmt.Sprint("user-", i), Email: "one@example.com"}})
			return err
		})
		wantOneWinner("accept", errs, domain.ErrInvitationAlreadyAccepted)
		if n := count(inv, domain.TypeInvitationAccepted); n != 1 {
			t.Errorf("%d accepts stored; want 1", n)
		}
	})
	t.Run("20 creates of one email", func(t *testing.T) {
		keyed, err := a.keys.EmailHMAC(t.Context(), "acme", "two@example.com")
		if err != nil {
			t.Fatal(err)
		}
		slot := domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: "acme", Key: keyed}
		warm(slot)
		errs := race(20, func(rp replica, _ int) error {
			_, err := rp.create(t.Context(), "acme", "two@example.com")
			return err
		})
		wantOneWinner("create", errs, domain.ErrInvitationAlreadyExists)
		if n := count(slot, domain.TypeEmailReserved); n != 1 {
			t.Errorf("%d reservations stored; want 1", n)
		}
	})
	t.Run("accept against cancel", func(t *testing.T) {
		for k := range 10 {
			email := fmt.Sprint("three-", k, "@example.com")
			inv := invitation(email)
			warm(inv)
			errs := race(2, func(rp replica, i int) error {
				if i == 0 {
					_, err := rp.AcceptInvitation.Handle(t.Context(), commands.AcceptInvitation{OrganizationID: "acme", InvitationID: inv.Key,
						Caller: domain.Caller{UserID: "user-" + email, Email: email}})
					return err
				}
				return rp.CancelInvitation.Handle(t.Context(), commands.CancelInvitation{OrganizationID: "acme", InvitationID: inv.Key, Actor: "admin"})
			})
			wantOneWinner("accept or cancel", errs, domain.ErrInvitationAlreadyAccepted, domain.ErrInvitationCancelled)
			if n := count(inv, domain.TypeInvitationAccepted) + count(inv, domain.TypeInvitationCancelled); n != 1 {
				t.Errorf("%s: %d of accepted and cancelled stored; want 1", email, n)
			}
		}
	})
}

func isOneOf(err error, targets []*domain.Error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
