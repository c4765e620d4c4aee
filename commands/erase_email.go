package commands

import (
	"context"
	"slices"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// EraseEmail erases an address from an organization (issue 14): its
// invitations are cancelled, its membership ended, its data keys deleted,
// and the erasure recorded under its keyed identifier.
type EraseEmail struct {
	OrganizationID string
	Email          string // normalized
	Actor          string
	// MayErase says the actor administers the organization (org.admin).
	MayErase bool
}

// EraseEmailResult is what the erasure did; all zero when there was
// nothing left to erase.
type EraseEmailResult struct {
	Cancelled     []string // the invitations cancelled
	RemovedMember string   // the user whose membership ended, if any
	KeyDeleted    bool     // a data key of the address was still there
	Erased        bool     // an erasure was recorded now
	ErasedAt      time.Time
}

type EraseEmailHandler struct{ base }

func (h *EraseEmailHandler) Handle(ctx context.Context, cmd EraseEmail) (res EraseEmailResult, err error) {
	if !cmd.MayErase {
		return res, domain.ErrForbidden
	}
	var emailHMAC string
	var generation int // the last generation erased, now or before
	err = h.execute(ctx, "erase_email", []domain.StreamID{addressLock(cmd.OrganizationID, cmd.Email)}, func(ctx context.Context, now time.Time) (decision, error) {
		res = EraseEmailResult{}
		org, _, err := h.organization(ctx, cmd.OrganizationID)
		if err != nil {
			return decision{}, err
		}
		if !org.Registered() {
			return decision{}, domain.ErrOrganizationNotFound
		}
		if emailHMAC, err = h.personal.EmailHMAC(ctx, org.ID, cmd.Email); err != nil {
			return decision{}, err
		}
		x, expected, err := h.erasable(ctx, org.ID, cmd.Email, emailHMAC)
		if err != nil {
			return decision{}, err
		}
		erasure, err := domain.Erase(org, x, cmd.Actor)
		if err != nil {
			return decision{}, err
		}
		generation = x.Slot.Erased
		if erasure.Erased != nil {
			generation = erasure.Erased.Generation
			res.Erased, res.ErasedAt = true, now.UTC()
		}
		for _, c := range erasure.Cancelled {
			res.Cancelled = append(res.Cancelled, c.InvitationID)
		}
		for _, r := range erasure.Removed {
			res.RemovedMember = r.UserID
		}
		return decision{payloads: erasure.Payloads(), expected: expected}, nil
	})
	if err != nil || generation == 0 {
		return res, err
	}
	// Recorded first, then shredded: a command deciding on the slot now
	// seals under the next generation. An erasure stopped between the two
	// is finished by the next one, which shreds again.
	res.KeyDeleted, err = h.personal.Shred(ctx, cmd.OrganizationID, emailHMAC, generation)
	return res, err
}

// erasable loads what an erasure decides on, and where each aggregate it
// may write stands.
func (h *EraseEmailHandler) erasable(ctx context.Context, org, email, emailHMAC string) (domain.Erasable, map[domain.StreamID]domain.Position, error) {
	keyed, pos, legacy, err := h.slots(ctx, org, email, emailHMAC)
	if err != nil {
		return domain.Erasable{}, nil, err
	}
	x := domain.Erasable{EmailHMAC: emailHMAC, Slot: keyed, Members: map[string]domain.Membership{}}
	expected := map[domain.StreamID]domain.Position{slotStream(org, emailHMAC): pos}
	// An invitation of revision 1 resent since is in both slots.
	for _, id := range slices.Concat(legacy.Invitations, keyed.Invitations) {
		if _, seen := expected[invitationStream(org, id)]; seen {
			continue
		}
		inv, pos, err := h.invitation(ctx, org, id)
		if err != nil {
			return x, nil, err
		}
		x.Invitations = append(x.Invitations, inv)
		expected[invitationStream(org, id)] = pos
		if _, seen := x.Members[inv.AcceptedBy]; inv.AcceptedBy == "" || seen {
			continue
		}
		m, pos, err := h.membership(ctx, org, inv.AcceptedBy)
		if err != nil {
			return x, nil, err
		}
		x.Members[inv.AcceptedBy] = m
		expected[membershipStream(org, inv.AcceptedBy)] = pos
	}
	return x, expected, nil
}
