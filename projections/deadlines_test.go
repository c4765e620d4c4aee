package projections_test

import (
	"slices"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

func TestDeadlines(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	d := projections.NewDeadlines()
	ev := func(p domain.Payload) domain.Event { return domain.NewEvent("", t0, p) }
	d.Observe(ev(domain.InvitationCreated{OrganizationID: "o", InvitationID: "a", ExpiresAt: t0.Add(time.Hour)}))
	d.Observe(ev(domain.InvitationCreated{OrganizationID: "o", InvitationID: "b", ExpiresAt: t0.Add(2 * time.Hour)}))
	d.Observe(ev(domain.InvitationCreated{OrganizationID: "o", InvitationID: "c", ExpiresAt: t0.Add(time.Hour)}))
	d.Observe(ev(domain.InvitationCancelled{OrganizationID: "o", InvitationID: "c"}))
	// a is resent: its old deadline no longer counts.
	d.Observe(ev(domain.InvitationResent{OrganizationID: "o", InvitationID: "a", ExpiresAt: t0.Add(3 * time.Hour)}))

	if due := d.Due(t0.Add(90 * time.Minute)); len(due) != 0 {
		t.Fatalf("due at 1h30: %v", due)
	}
	if due := d.Due(t0.Add(2 * time.Hour)); !slices.Equal(due, []projections.InvitationKey{{"o", "b"}}) {
		t.Fatalf("due at 2h: %v", due)
	}
	if due := d.Due(t0.Add(2 * time.Hour)); len(due) != 0 {
		t.Fatalf("b given twice: %v", due)
	}
	d.Retry(projections.InvitationKey{"o", "b"}, t0.Add(150*time.Minute))
	if due := d.Due(t0.Add(3 * time.Hour)); len(due) != 2 || d.Pending() != 0 {
		t.Fatalf("due at 3h: %v, %d pending", due, d.Pending())
	}
}
