package projections_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// history is a stream of every kind of event the projector writes, with
// invitations created and changed in the same stretches of the stream.
func history(t *testing.T) []domain.Delivered {
	t.Helper()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var events []domain.Delivered
	add := func(payload domain.Payload) {
		e := domain.NewEvent(fmt.Sprintf("event-%d", len(events)+1), now, payload)
		data, err := domain.MarshalCloudEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, domain.DecodeDelivered(uint64(len(events)+1), "", data))
	}
	add(domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "admin"})
	for i := range 60 {
		id := fmt.Sprintf("inv-%d", i)
		add(domain.InvitationCreated{OrganizationID: "acme", InvitationID: id, Email: id + "@example.com", Role: domain.RoleMember,
			TokenSHA256: domain.SHA256("token-" + id), ExpiresAt: now.Add(time.Hour), Actor: "admin"})
		switch i % 4 {
		case 0:
			add(domain.InvitationAccepted{OrganizationID: "acme", InvitationID: id, UserID: "user-" + id, Actor: "user-" + id})
			add(domain.MembershipAdded{OrganizationID: "acme", UserID: "user-" + id, Email: id + "@example.com", Role: domain.RoleMember, InvitationID: id, Actor: "user-" + id})
		case 1:
			add(domain.InvitationResent{OrganizationID: "acme", InvitationID: id, TokenSHA256: domain.SHA256("again-" + id), ExpiresAt: now.Add(2 * time.Hour), Actor: "admin"})
			add(domain.InvitationCancelled{OrganizationID: "acme", InvitationID: id, Actor: "admin"})
			if erased(i) {
				// An erasure, then a later write of what it erased: the
				// state it reads (in the batch or the store) has no address.
				add(domain.EmailErased{OrganizationID: "acme", EmailHMAC: "hmac-" + id, Generation: 1,
					InvitationIDs: []string{id}, UserIDs: []string{}, Actor: "admin"})
				add(domain.InvitationExpired{OrganizationID: "acme", InvitationID: id, Actor: domain.SystemActor})
			}
		}
		if i%10 == 9 {
			add(domain.OrganizationRenamed{OrganizationID: "acme", Name: fmt.Sprintf("Acme %d", i), Actor: "admin"})
		}
	}
	return events
}

// erased says whether history erases the address of its i-th invitation.
func erased(i int) bool { return i%8 == 1 }

// readModels is everything a store answers about history's records.
func readModels(t *testing.T, s projections.Store) map[string]any {
	t.Helper()
	ctx := t.Context()
	out := map[string]any{}
	cp, err := s.Checkpoint(ctx)
	out["checkpoint"] = cp
	o, _, err2 := s.Organization(ctx, "acme")
	out["org"] = o
	for i := range 60 {
		id := fmt.Sprintf("inv-%d", i)
		inv, _, err := s.Invitation(ctx, "acme", id)
		out[id] = []any{inv, err}
		for _, tok := range []string{"token-" + id, "again-" + id} {
			m, err := s.InvitationByToken(ctx, domain.SHA256(tok))
			m.Checkpoint = 0
			out[tok] = []any{m, err}
		}
	}
	for _, b := range []projections.Bucket{projections.BucketAll, projections.BucketOpen, projections.BucketAccepted, projections.BucketCancelled} {
		l, err := s.Invitations(ctx, "acme", b, 0, projections.Older, 1000)
		out["list-"+string(b)] = []any{l, err}
	}
	members, err3 := s.Members(ctx, "acme", 0, projections.Older, 1000)
	out["members"] = members
	if err := errors.Join(err, err2, err3); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProjectRacingReplicas has four replicas project the same stream
// into one store at once, each in batches of its own random sizes, each
// retrying a refused batch: the store ends exactly as projecting the events
// one by one makes it.
func TestProjectRacingReplicas(t *testing.T) {
	events := history(t)
	want := projections.NewMemoryStore()
	one := projections.NewProjector(want, projections.KeepSealed{}, quiet())
	for _, e := range events {
		if _, err := one.Project(t.Context(), []domain.Delivered{e}); err != nil {
			t.Fatal(err)
		}
	}
	wantModels := readModels(t, want)
	wantNoErasedAddress(t, wantModels)

	opts, err := redis.ParseURL(testkit.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	prefix := fmt.Sprintf("racing-%d:", time.Now().UnixNano())
	for name, store := range map[string]projections.Store{"memory": projections.NewMemoryStore(), "redis": redisstore.New(rdb, prefix)} {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			var refused sync.Map
			for r := range 4 {
				wg.Go(func() {
					p := projections.NewProjector(store, projections.KeepSealed{}, quiet())
					rng := rand.New(rand.NewPCG(uint64(r), 7))
					for next, tries := 0, 0; next < len(events); tries++ {
						end := min(next+1+rng.IntN(40), len(events))
						_, err := p.Project(context.Background(), events[next:end])
						if err != nil {
							if tries > 1000 {
								t.Errorf("replica %d: events %d to %d still refused: %v", r, next+1, end, err)
								return
							}
							refused.Store(err.Error(), true)
							continue // as the router's retry does
						}
						next = end
					}
				})
			}
			wg.Wait()
			refused.Range(func(k, _ any) bool { t.Logf("refused and retried: %v", k); return true })
			got := readModels(t, store)
			wantNoErasedAddress(t, got)
			if !reflect.DeepEqual(got, wantModels) {
				for k := range wantModels {
					if !reflect.DeepEqual(got[k], wantModels[k]) {
						t.Errorf("%s:\n got  %+v\n want %+v", k, got[k], wantModels[k])
					}
				}
			}
		})
	}
}

// The organization's version counts its events, whether they come one by
// one or renamed several times in one batch: it makes the ETag.
func TestOrganizationVersionCountsItsEvents(t *testing.T) {
	events := history(t) // registered, renamed 6 times
	for name, batches := range map[string]int{"one by one": 1, "one batch": len(events)} {
		store := projections.NewMemoryStore()
		p := projections.NewProjector(store, projections.KeepSealed{}, quiet())
		for i := 0; i < len(events); i += batches {
			if _, err := p.Project(t.Context(), events[i:min(i+batches, len(events))]); err != nil {
				t.Fatal(err)
			}
		}
		if o, _, _ := store.Organization(t.Context(), "acme"); o.Version != 7 || o.Name != "Acme 59" {
			t.Errorf("%s: organization %+v; want version 7", name, o)
		}
	}
}

// wantNoErasedAddress checks that no read model answers an address history
// erased, and that the erased invitations say so.
func wantNoErasedAddress(t *testing.T, models map[string]any) {
	t.Helper()
	all, err := json.Marshal(models)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range 60 {
		id := fmt.Sprintf("inv-%d", i)
		if !erased(i) {
			continue
		}
		n++
		if bytes.Contains(all, []byte(id+"@example.com")) {
			t.Fatalf("the erased address of %s is in the read models", id)
		}
		if inv := models[id].([]any)[0].(projections.Invitation); !inv.EmailErased || inv.Email != "" || inv.Version != 4 {
			t.Fatalf("%s after its erasure: %+v", id, inv)
		}
	}
	if n == 0 || !bytes.Contains(all, []byte("inv-0@example.com")) {
		t.Fatal("the test erases nothing, or everything")
	}
}
