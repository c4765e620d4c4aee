package commands_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

func eraseEmail(h *harness, email string) (commands.EraseEmailResult, error) {
	return h.handlers.EraseEmail.Handle(h.t.Context(), commands.EraseEmail{OrganizationID: org, Email: email, Actor: admin, MayErase: true})
}

// created invites email through the command and answers the invitation.
func (h *harness) created(email string) commands.CreatedInvitation {
	h.t.Helper()
	res, err := createInvitations(h, invitationsOf(email))
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Invitations[0]
}

// loaded is an invitation as a command loads it: its address opened.
func (h *harness) loaded(id string) domain.Invitation {
	h.t.Helper()
	events, _, err := h.store.Load(h.t.Context(), domain.StreamID{Kind: domain.KindInvitation, OrganizationID: org, Key: id})
	if err != nil {
		h.t.Fatal(err)
	}
	var inv domain.Invitation
	for _, e := range events {
		d, err := h.keys.Open(h.t.Context(), e.Data)
		if err != nil {
			h.t.Fatal(err)
		}
		e.Data = d
		inv.Apply(e.Event)
	}
	return inv
}

func (h *harness) emailHMAC(email string) string {
	h.t.Helper()
	k, err := h.keys.EmailHMAC(h.t.Context(), org, email)
	if err != nil {
		h.t.Fatal(err)
	}
	return k
}

func TestEraseEmail(t *testing.T) {
	h := newHarness(t, acme()...)
	first := h.created(adaEmail)
	if _, err := acceptInvitation(h, acceptByID(first.ID, adaCaller)); err != nil {
		t.Fatal(err)
	}
	h.clock = now.Add(8 * 24 * time.Hour)
	// A second invitation of ada, after her removal, still pending.
	if _, err := removeMember(h, commands.RemoveMember{OrganizationID: org, UserID: ada, Actor: admin}); err != nil {
		t.Fatal(err)
	}
	second := h.created(adaEmail)
	other := h.created(bobEmail)
	h.settle()

	res, err := eraseEmail(h, adaEmail)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Cancelled, []string{second.ID}) || res.RemovedMember != "" || !res.KeyDeleted || !res.Erased || !res.ErasedAt.Equal(h.clock) {
		t.Fatalf("erasure %+v; want %s cancelled and the key deleted", res, second.ID)
	}
	h.wantAppended(cancelled(second.ID, admin), domain.EmailErased{OrganizationID: org, EmailHMAC: h.emailHMAC(adaEmail), Generation: 1,
		InvitationIDs: []string{first.ID, second.ID}, UserIDs: []string{ada}, Actor: admin})
	h.wantVisible()
	for _, id := range []string{first.ID, second.ID} {
		if inv := h.loaded(id); !inv.EmailErased || inv.Email != "" || inv.EmailHMAC != h.emailHMAC(adaEmail) {
			t.Fatalf("invitation %s after the erasure: %+v", id, inv)
		}
	}
	if inv := h.loaded(other.ID); inv.Email != bobEmail || inv.EmailErased {
		t.Fatalf("another address after the erasure: %+v", inv)
	}
	// What an erasure cancelled stays cancelled: neither accepted nor resent.
	if _, err := acceptInvitation(h, acceptByID(second.ID, adaCaller)); !errors.Is(err, domain.ErrInvitationCancelled) {
		t.Fatalf("accept an erased invitation: %v", err)
	}
	if _, err := resendInvitation(h, resendOf(second.ID)); !errors.Is(err, domain.ErrInvitationCancelled) {
		t.Fatalf("resend an erased invitation: %v", err)
	}

	h.settle()
	again, err := eraseEmail(h, adaEmail)
	if err != nil || !reflect.DeepEqual(again, commands.EraseEmailResult{}) {
		t.Fatalf("erase again: %+v, %v; want nothing done", again, err)
	}
	h.wantAppended()

	// Invited again, the address is a new data subject, under a new key.
	third := h.created(adaEmail)
	h.settle()
	if inv := h.loaded(third.ID); inv.Email != adaEmail || inv.KeyGeneration != 2 {
		t.Fatalf("invited after the erasure: %+v; want generation 2", inv)
	}
	if _, err := acceptInvitation(h, acceptByID(third.ID, adaCaller)); err != nil {
		t.Fatal(err)
	}
	h.settle()
	res, err = eraseEmail(h, adaEmail)
	if err != nil || res.RemovedMember != ada || len(res.Cancelled) != 0 || !res.KeyDeleted {
		t.Fatalf("erase the member: %+v, %v", res, err)
	}
	h.wantAppended(removed(ada, third.ID), domain.EmailErased{OrganizationID: org, EmailHMAC: h.emailHMAC(adaEmail), Generation: 2,
		InvitationIDs: []string{third.ID}, UserIDs: []string{ada}, Actor: admin})
}

// Invitations written by revision 1 (the address in clear) are found by
// the slot that named the address by its SHA-256: cancelled and ended like
// the others. Their addresses stay in the stream; the record names them
// for the read models.
func TestEraseEmailOfRevision1(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail), joined("i1", ada, adaEmail), expiredAt("i2", bobEmail))...)
	res, err := eraseEmail(h, adaEmail)
	if err != nil || res.RemovedMember != ada || len(res.Cancelled) != 0 || res.KeyDeleted || !res.Erased {
		t.Fatalf("erasure %+v, %v", res, err)
	}
	h.wantAppended(removed(ada, "i1"), domain.EmailErased{OrganizationID: org, EmailHMAC: h.emailHMAC(adaEmail), Generation: 1,
		InvitationIDs: []string{"i1"}, UserIDs: []string{ada}, Actor: admin})
	res, err = eraseEmail(h, bobEmail)
	if err != nil || !slices.Equal(res.Cancelled, []string{"i2"}) {
		t.Fatalf("erase bob: %+v, %v", res, err)
	}
	h.settle()
	if res, err := eraseEmail(h, adaEmail); err != nil || res.Erased {
		t.Fatalf("erase again: %+v, %v", res, err)
	}
	h.wantAppended()
	// Invited again: a slot of the keyed identifier, a sealed address.
	if inv := h.loaded(h.created(adaEmail).ID); inv.Email != adaEmail || inv.KeyGeneration != 2 {
		t.Fatalf("invited after the erasure: %+v", inv)
	}
}

func TestEraseEmailRefused(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	_, err := h.handlers.EraseEmail.Handle(t.Context(), commands.EraseEmail{OrganizationID: org, Email: adaEmail, Actor: bob})
	wantErr(t, err, domain.ErrForbidden)
	_, err = h.handlers.EraseEmail.Handle(t.Context(), commands.EraseEmail{OrganizationID: "globex", Email: adaEmail, Actor: admin, MayErase: true})
	wantErr(t, err, domain.ErrOrganizationNotFound)
	res, err := eraseEmail(h, "eve@example.com")
	if err != nil || !reflect.DeepEqual(res, commands.EraseEmailResult{}) {
		t.Fatalf("erase an address never invited: %+v, %v", res, err)
	}
	h.wantAppended()
}

// An erasure racing invites and accepts of the same address, on two
// replicas, leaves one consistent state however they interleave: every
// invitation of an erased generation is cancelled or accepted with its
// membership ended, its address unreadable; an invitation made after the
// erasure is of the next generation, readable; at most one is pending.
func TestEraseEmailRacingInvitesAndAccepts(t *testing.T) {
	for round := range 8 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			h := newHarness(t, acme()...)
			replicas := []*commands.Handlers{h.handlers, h.replica()}
			first := h.created(adaEmail)
			ctx := context.Background()
			var wg sync.WaitGroup
			var erasures []commands.EraseEmailResult
			var mu sync.Mutex
			for i := range 24 {
				r := replicas[i%2]
				wg.Go(func() {
					var err error
					switch i % 4 {
					case 0:
						var res commands.EraseEmailResult
						res, err = r.EraseEmail.Handle(ctx, commands.EraseEmail{OrganizationID: org, Email: adaEmail, Actor: admin, MayErase: true})
						mu.Lock()
						erasures = append(erasures, res)
						mu.Unlock()
					case 1:
						_, err = r.CreateInvitations.Handle(ctx, invitationsOf(adaEmail))
					default:
						_, err = r.AcceptInvitation.Handle(ctx, acceptByID(first.ID, domain.Caller{UserID: fmt.Sprint("user-", i), Email: adaEmail}))
					}
					if err != nil && len(domain.Violations(err)) == 0 && !errors.Is(err, domain.ErrConflict) {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if !slices.ContainsFunc(erasures, func(r commands.EraseEmailResult) bool { return r.Erased }) {
				t.Fatal("no erasure recorded")
			}
			h.wantConsistent(adaEmail)
		})
	}
}

// wantConsistent checks what an erasure leaves of an address, whatever
// raced it (see TestEraseEmailRacingInvitesAndAccepts).
func (h *harness) wantConsistent(email string) {
	h.t.Helper()
	erasedUpTo := 0
	var invitations []string
	members := map[string]domain.Membership{}
	for _, e := range h.store.all() {
		switch d := e.Data.(type) {
		case domain.EmailErased:
			erasedUpTo = max(erasedUpTo, d.Generation)
		case domain.InvitationCreated:
			invitations = append(invitations, d.InvitationID)
		case domain.MembershipAdded, domain.MembershipRemoved:
			id := domain.StreamOf(d).Key
			m := members[id]
			opened, err := h.keys.Open(h.t.Context(), d)
			if err != nil {
				h.t.Fatal(err)
			}
			m.Apply(domain.Event{Data: opened})
			members[id] = m
		}
	}
	pending := 0
	for _, id := range invitations {
		inv := h.loaded(id)
		erased := inv.KeyGeneration <= erasedUpTo
		switch {
		case erased && (!inv.EmailErased || inv.Email != ""):
			h.t.Fatalf("invitation %s of erased generation %d opens: %+v", id, inv.KeyGeneration, inv)
		case erased && inv.StatusAt(h.clock) == domain.StatusPending:
			h.t.Fatalf("invitation %s of erased generation %d is pending", id, inv.KeyGeneration)
		case !erased && inv.Email != email:
			h.t.Fatalf("invitation %s of generation %d after the erasure of %d does not open: %+v", id, inv.KeyGeneration, erasedUpTo, inv)
		}
		if inv.StatusAt(h.clock) == domain.StatusPending {
			pending++
		}
	}
	if pending > 1 {
		h.t.Fatalf("%d pending invitations of one address", pending)
	}
	for user, m := range members {
		if m.Active && m.KeyGeneration <= erasedUpTo {
			h.t.Fatalf("member %s of erased generation %d still active: %+v", user, m.KeyGeneration, m)
		}
	}
}
