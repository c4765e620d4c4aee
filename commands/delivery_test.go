package commands_test

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/tokenseal"
)

// sealingTokens makes h's handlers seal tokens to a fresh identity, which
// it returns to open them.
func (h *harness) sealingTokens() *tokenseal.Opener {
	h.t.Helper()
	id, err := tokenseal.LoadOrCreateIdentity(filepath.Join(h.t.TempDir(), "identity"))
	if err != nil {
		h.t.Fatal(err)
	}
	sealer, err := id.Sealer()
	if err != nil {
		h.t.Fatal(err)
	}
	h.handlers = commands.New(h.store, h.keys, h.reads, func() time.Time { return h.clock }, h.observer, commands.SealTokens(sealer))
	return id
}

// lastEvent is the last event appended of type t.
func (h *harness) lastEvent(eventType string) domain.Event {
	h.t.Helper()
	all := h.store.all()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Type == eventType {
			return all[i]
		}
	}
	h.t.Fatalf("no %s appended", eventType)
	return domain.Event{}
}

func (h *harness) due(id, eventID string) commands.Due {
	h.t.Helper()
	d, err := h.handlers.Delivery.Due(h.t.Context(), org, id, eventID)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// The token travels sealed in the events of a create and a resend, with
// the inviter's name; the mailer's reads say which email is due, and its
// record is written once.
func TestDeliveryOfSealedTokens(t *testing.T) {
	h := newHarness(t, acme()...)
	opener := h.sealingTokens()
	cmd := invitationsOf(adaEmail)
	cmd.InviterName, cmd.Locale = "Grace Hopper", "fr"
	res, err := h.handlers.CreateInvitations.Handle(t.Context(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	inv := res.Invitations[0]
	created := h.lastEvent(domain.TypeInvitationCreated)
	data := created.Data.(domain.InvitationCreated)
	env, err := opener.Open(data.TokenSealed, inv.ID, data.TokenSHA256)
	if err != nil || env.Token != inv.Token || env.InviterName != "Grace Hopper" || data.Locale != "fr" {
		t.Fatalf("sealed token opens %+v, %v; locale %q", env, err, data.Locale)
	}
	raw, err := domain.MarshalCloudEvent(created)
	if err != nil || bytes.Contains(raw, []byte(inv.Token)) || bytes.Contains(raw, []byte("Grace")) {
		t.Fatalf("the stored event shows the token or the inviter's name (%v):\n%s", err, raw)
	}

	due := h.due(inv.ID, created.ID)
	if !due.Send || due.Invitation.Email != adaEmail || due.Organization.Name != "Acme" || due.Invitation.Locale != "fr" {
		t.Fatalf("due %+v", due)
	}
	record := commands.RecordDelivery{OrganizationID: org, InvitationID: inv.ID, Sent: true,
		Report: domain.DeliveryReport{EventID: created.ID, MessageID: "<m@x>", Attempts: 1, Reply: "250 2.0.0 Ok"}}
	h.settle()
	// Two mailers that both sent it (one restarted, or raced) record it once.
	var wg sync.WaitGroup
	for _, handlers := range []*commands.Handlers{h.handlers, h.replica()} {
		wg.Go(func() {
			if err := handlers.Delivery.Record(t.Context(), record); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h.wantAppended(domain.InvitationDelivered{DeliveryReport: domain.DeliveryReport{OrganizationID: org, InvitationID: inv.ID,
		EventID: created.ID, MessageID: "<m@x>", Attempts: 1, Reply: "250 2.0.0 Ok", Actor: domain.SystemActor}})
	if h.due(inv.ID, created.ID).Send {
		t.Fatal("an email recorded sent is still due")
	}

	resend := resendOf(inv.ID)
	resend.InviterName = "Ada Lovelace"
	again, err := h.handlers.ResendInvitation.Handle(t.Context(), resend)
	if err != nil {
		t.Fatal(err)
	}
	resent := h.lastEvent(domain.TypeInvitationResent)
	rd := resent.Data.(domain.InvitationResent)
	if env, err := opener.Open(rd.TokenSealed, inv.ID, rd.TokenSHA256); err != nil || env.Token != again.Invitation.Token || env.InviterName != "Ada Lovelace" {
		t.Fatalf("resent token opens %+v, %v", env, err)
	}
	if _, err := opener.Open(rd.TokenSealed, inv.ID, data.TokenSHA256); err == nil {
		t.Fatal("the new sealed token opens beside the old token's hash")
	}
	if h.due(inv.ID, created.ID).Send || !h.due(inv.ID, resent.ID).Send {
		t.Fatal("after a resend the new token's email is not the one due")
	}
	if err := h.handlers.CancelInvitation.Handle(t.Context(), cancelOf(inv.ID)); err != nil {
		t.Fatal(err)
	}
	if d := h.due(inv.ID, resent.ID); d.Send || d.Invitation.DeliveryAt(now) != domain.DeliverySkipped {
		t.Fatalf("a cancelled invitation's email: %+v", d)
	}
}

// "send_email": false seals nothing: nobody is to deliver it.
func TestSkipEmailSealsNothing(t *testing.T) {
	h := newHarness(t, acme()...)
	h.sealingTokens()
	cmd := invitationsOf(adaEmail)
	cmd.SkipEmail = true
	res, err := h.handlers.CreateInvitations.Handle(t.Context(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	created := h.lastEvent(domain.TypeInvitationCreated)
	if d := created.Data.(domain.InvitationCreated); d.TokenSealed != "" || !d.SkipEmail {
		t.Fatalf("created %+v", d)
	}
	if d := h.due(res.Invitations[0].ID, created.ID); d.Send || d.Invitation.DeliveryStatus != domain.DeliverySkipped {
		t.Fatalf("due %+v", d)
	}
	resend := resendOf(res.Invitations[0].ID)
	resend.SkipEmail = true
	if _, err := h.handlers.ResendInvitation.Handle(t.Context(), resend); err != nil {
		t.Fatal(err)
	}
	if d := h.lastEvent(domain.TypeInvitationResent).Data.(domain.InvitationResent); d.TokenSealed != "" || !d.SkipEmail {
		t.Fatalf("resent %+v", d)
	}
}

// Without a delivery key, no event carries the token in any form.
func TestNoDeliveryKeyNoSealedToken(t *testing.T) {
	h := newHarness(t, acme()...)
	if _, err := h.handlers.CreateInvitations.Handle(t.Context(), invitationsOf(adaEmail)); err != nil {
		t.Fatal(err)
	}
	created := h.lastEvent(domain.TypeInvitationCreated)
	if d := created.Data.(domain.InvitationCreated); d.TokenSealed != "" || d.SkipEmail {
		t.Fatalf("created %+v", d)
	}
	if d := h.due(created.Data.(domain.InvitationCreated).InvitationID, created.ID); d.Send || d.Invitation.DeliveryStatus != "" {
		t.Fatalf("due %+v", d)
	}
}

func TestRecordDeliveryOfNoInvitation(t *testing.T) {
	h := newHarness(t, acme()...)
	err := h.handlers.Delivery.Record(t.Context(), commands.RecordDelivery{OrganizationID: org, InvitationID: "nope", Report: domain.DeliveryReport{EventID: "e"}})
	wantErr(t, err, domain.ErrInvitationNotFound)
}
