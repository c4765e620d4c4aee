package httpapi

import (
	"net/http"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// erasureResource is what an erasure did (README "Personal data and
// erasure"): all empty, and erased_at null, when nothing was left to erase.
type erasureResource struct {
	InvitationsCancelled []string   `json:"invitations_cancelled"`
	MemberRemoved        *string    `json:"member_removed"`
	KeyDeleted           bool       `json:"key_deleted"`
	ErasedAt             *timestamp `json:"erased_at"`
}

func (s *server) eraseEmail(w http.ResponseWriter, r *http.Request) error {
	p, org, err := s.authorize(r, auth.PermOrgAdmin)
	if err != nil {
		return err
	}
	var body struct {
		Email *string `json:"email"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.Email == nil {
		return invalid("email is required.", "email")
	}
	email, ok := domain.NormalizeEmail(*body.Email)
	if !ok {
		return domain.ErrInvalidEmail.WithFields("email")
	}
	res, err := s.Commands.EraseEmail(r.Context(), commands.EraseEmail{OrganizationID: org, Email: email, Actor: p.Subject,
		MayErase: p.Can(org, auth.PermOrgAdmin)})
	if err != nil {
		return err
	}
	out := erasureResource{InvitationsCancelled: append([]string{}, res.Cancelled...), KeyDeleted: res.KeyDeleted, ErasedAt: optionalTime(res.ErasedAt)}
	if res.RemovedMember != "" {
		out.MemberRemoved = &res.RemovedMember
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
