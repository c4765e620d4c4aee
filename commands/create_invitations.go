package commands

import (
	"context"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// CreateInvitations invites every email to the organization, or none.
type CreateInvitations struct {
	OrganizationID string
	Emails         []string // normalized, without repeats
	Role           domain.Role
	ExpiresIn      time.Duration
	Actor          string
	// MayManagePrivileged says the actor may invite to the admin and owner roles.
	MayManagePrivileged bool
	// IdempotencyKey, when set, makes a repeat of the same request (same
	// RequestSHA256) answer as the first did, creating nothing.
	IdempotencyKey string
	RequestSHA256  string
}

// CreatedInvitation is one invitation made, with its token (empty on replay).
type CreatedInvitation struct {
	domain.Invitation
	Token string
}

// CreateInvitationsResult lists the invitations in the order of the emails.
type CreateInvitationsResult struct {
	Organization domain.Organization
	Invitations  []CreatedInvitation
	Replayed     bool
}

type CreateInvitationsHandler struct{ base }

func (h *CreateInvitationsHandler) Handle(ctx context.Context, cmd CreateInvitations) (res CreateInvitationsResult, err error) {
	if cmd.Role.Privileged() && !cmd.MayManagePrivileged {
		return res, domain.ErrForbidden.WithFields("role")
	}
	err = h.execute(ctx, "create_invitations", createLocks(cmd), func(ctx context.Context, now time.Time) (decision, error) {
		res = CreateInvitationsResult{}
		org, _, err := h.organization(ctx, cmd.OrganizationID)
		if err != nil {
			return decision{}, err
		}
		if !org.Registered() {
			return decision{}, domain.ErrOrganizationNotFound
		}
		res.Organization = org
		expected := map[domain.StreamID]domain.Position{}
		var idem domain.IdempotencyRecorded
		if cmd.IdempotencyKey != "" {
			keyID := idempotencyStream(org.ID, cmd.IdempotencyKey)
			record, seq, err := load[domain.IdempotencyRecord](ctx, h.events, keyID)
			if err != nil {
				return decision{}, err
			}
			if record.LiveAt(now) {
				if record.RequestSHA256 != cmd.RequestSHA256 {
					return decision{}, domain.ErrIdempotencyKeyReused
				}
				return decision{expected: map[domain.StreamID]domain.Position{keyID: seq}}, h.replay(ctx, org.ID, record, &res)
			}
			expected[keyID] = seq
			idem = domain.IdempotencyRecorded{OrganizationID: org.ID, KeySHA256: keyID.Key, RequestSHA256: cmd.RequestSHA256, Status: 201, Actor: cmd.Actor}
		}

		invitees := make([]domain.Invitee, len(cmd.Emails))
		news := make([]domain.NewInvitation, len(cmd.Emails))
		tokens := make([]string, len(cmd.Emails))
		for i, email := range cmd.Emails {
			emailHMAC, err := h.personal.EmailHMAC(ctx, org.ID, email)
			if err != nil {
				return decision{}, err
			}
			in, slotID, slotSeq, err := h.invitee(ctx, org.ID, email, emailHMAC)
			if err != nil {
				return decision{}, err
			}
			invitees[i] = in
			tokens[i] = NewToken()
			news[i] = domain.NewInvitation{InvitationID: newID(), Email: email, Role: cmd.Role,
				TokenSHA256: domain.SHA256(tokens[i]), ExpiresAt: now.Add(cmd.ExpiresIn).Truncate(time.Second).UTC()}
			expected[slotID] = slotSeq
			expected[invitationStream(org.ID, news[i].InvitationID)] = domain.Position{}
		}
		invited, err := domain.Invite(org, invitees, news, cmd.Actor, now)
		if err != nil {
			return decision{}, err
		}
		var payloads []domain.Payload
		for i, d := range invited {
			payloads = append(payloads, d.Payloads()...)
			inv := evolve(domain.Invitation{}, now, d.Invitation)
			res.Invitations = append(res.Invitations, CreatedInvitation{Invitation: inv, Token: tokens[i]})
			idem.InvitationIDs = append(idem.InvitationIDs, d.Invitation.InvitationID)
		}
		if cmd.IdempotencyKey != "" {
			payloads = append(payloads, idem)
		}
		return decision{payloads: payloads, expected: expected}, nil
	})
	return res, err
}

// createLocks are the streams a create writes that another command may
// write too: the emails' slots (by their addressLock) and the idempotency
// key. Its invitations are new, under ids no one else has.
func createLocks(cmd CreateInvitations) []domain.StreamID {
	streams := make([]domain.StreamID, 0, len(cmd.Emails)+1)
	for _, email := range cmd.Emails {
		streams = append(streams, addressLock(cmd.OrganizationID, email))
	}
	if cmd.IdempotencyKey != "" {
		streams = append(streams, idempotencyStream(cmd.OrganizationID, cmd.IdempotencyKey))
	}
	return streams
}

// replay answers a repeated request with the invitations it created, as they
// stand now, without their tokens.
func (h *CreateInvitationsHandler) replay(ctx context.Context, org string, record domain.IdempotencyRecord, res *CreateInvitationsResult) error {
	res.Replayed = true
	for _, id := range record.InvitationIDs {
		inv, _, err := h.invitation(ctx, org, id)
		if err != nil {
			return err
		}
		res.Invitations = append(res.Invitations, CreatedInvitation{Invitation: inv})
	}
	return nil
}
