package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// registered returns the organization, or organization.not_found.
func (s *server) registered(r *http.Request, org string) (projections.Organization, error) {
	o, found, err := s.Queries.Organization(r.Context(), org)
	if err != nil {
		return o, err
	}
	if !found {
		return o, domain.ErrOrganizationNotFound
	}
	return o, nil
}

const maxEmails = 100

type createRequest struct {
	Emails    []string `json:"emails"`
	Role      *string  `json:"role"`
	ExpiresIn *string  `json:"expires_in"`
	SendEmail *bool    `json:"send_email"`
	Locale    *string  `json:"locale"`
}

// locale is the request's locale, normalized, or "" when not given.
func locale(raw *string) (string, error) {
	if raw == nil {
		return "", nil
	}
	l, ok := domain.NormalizeLocale(*raw)
	if !ok {
		return "", invalid(`locale must be a BCP 47 language tag such as "fr" or "pt-BR".`, "locale")
	}
	return l, nil
}

// validate normalizes the request or names every bad field.
func (c createRequest) validate() ([]string, domain.Role, time.Duration, error) {
	var bad []string
	var msgs []string
	if len(c.Emails) < 1 || len(c.Emails) > maxEmails {
		return nil, "", 0, invalid(fmt.Sprintf("emails must list 1 to %d addresses.", maxEmails), "emails")
	}
	emails := make([]string, len(c.Emails))
	seen := make(map[string]bool, len(c.Emails))
	for i, raw := range c.Emails {
		field := fmt.Sprintf("emails[%d]", i)
		email, ok := domain.NormalizeEmail(raw)
		switch {
		case !ok:
			bad, msgs = append(bad, field), append(msgs, field+": "+domain.ErrInvalidEmail.Message)
		case seen[email]:
			bad, msgs = append(bad, field), append(msgs, field+" repeats an earlier address.")
		}
		seen[email] = true
		emails[i] = email
	}
	role := domain.RoleMember
	if c.Role != nil {
		if role = domain.Role(*c.Role); !role.Valid() {
			bad, msgs = append(bad, "role"), append(msgs, "role must be owner, admin, member or viewer.")
		}
	}
	expiresIn := domain.DefaultExpiresIn
	if c.ExpiresIn != nil {
		d, ok := domain.ParseExpiresIn(*c.ExpiresIn)
		if !ok {
			bad, msgs = append(bad, "expires_in"), append(msgs, `expires_in must be a duration ("36h") or whole days ("3d") from 1 hour to 30 days.`)
		}
		expiresIn = d
	}
	if len(bad) > 0 {
		return nil, "", 0, invalid(strings.Join(msgs, " "), bad...)
	}
	return emails, role, expiresIn, nil
}

// requestHash identifies a create request for Idempotency-Key checks. The
// fields added later are left out when not given, so that a request made
// before them hashes as it did.
func requestHash(emails []string, role domain.Role, expiresIn time.Duration, skipEmail bool, locale string) string {
	b, _ := json.Marshal(struct {
		Emails    []string
		Role      domain.Role
		ExpiresIn time.Duration
		SkipEmail bool   `json:",omitempty"`
		Locale    string `json:",omitempty"`
	}{emails, role, expiresIn, skipEmail, locale})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func idempotencyKey(r *http.Request) (string, error) {
	vals, present := r.Header["Idempotency-Key"]
	if !present {
		return "", nil
	}
	key := vals[0]
	ok := len(vals) == 1 && len(key) >= 1 && len(key) <= 255
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] >= 0x20 && key[i] <= 0x7e
	}
	if !ok {
		return "", invalid("Idempotency-Key must be 1 to 255 printable ASCII characters.", "Idempotency-Key")
	}
	return key, nil
}

func (s *server) createInvitations(w http.ResponseWriter, r *http.Request) error {
	p, org, err := s.authorize(r, auth.PermOrgUserInvite)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var body createRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	emails, role, expiresIn, err := body.validate()
	if err != nil {
		return err
	}
	loc, err := locale(body.Locale)
	if err != nil {
		return err
	}
	skip := body.SendEmail != nil && !*body.SendEmail
	if err := s.Invites.take(org, len(emails), s.Now()); err != nil {
		return err
	}
	res, err := s.Commands.CreateInvitations(r.Context(), commands.CreateInvitations{
		OrganizationID: org, Emails: emails, Role: role, ExpiresIn: expiresIn, Actor: p.Subject,
		MayManagePrivileged: p.Can(org, auth.PermOrgAdmin),
		IdempotencyKey:      key, RequestSHA256: requestHash(emails, role, expiresIn, skip, loc),
		InviterName: p.Name, SkipEmail: skip, Locale: loc,
	})
	if err != nil {
		return err
	}
	now := s.Now()
	out := make([]invitationResource, len(res.Invitations))
	for i, inv := range res.Invitations {
		out[i] = newInvitationResource(inv.Invitation, res.Organization.Name, now).withToken(inv.Token, s.AcceptURL)
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invitations": out})
	return nil
}

func (s *server) listInvitations(w http.ResponseWriter, r *http.Request) error {
	_, org, err := s.authorize(r, auth.PermOrgRead, auth.PermOrgUserRead)
	if err != nil {
		return err
	}
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	status := projections.StatusFilter(domain.StatusPending)
	if q.Has("status") {
		if status = projections.StatusFilter(q.Get("status")); !projections.ValidStatusFilter(status) {
			return invalid("status must be pending, accepted, cancelled, expired or all.", "status")
		}
	}
	req, err := pageRequest(q)
	if err != nil {
		return err
	}
	o, err := s.registered(r, org)
	if err != nil {
		return err
	}
	page, err := s.Queries.Invitations(r.Context(), org, status, req)
	if err != nil {
		return err
	}
	now := s.Now()
	out := make([]invitationResource, len(page.Items))
	for i, inv := range page.Items {
		out[i] = newInvitationResource(inv.Invitation, o.Name, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"invitations": out,
		"links":       pageLinks(r, page, func(i projections.Invitation) uint64 { return i.Position }),
	})
	return nil
}

func (s *server) getInvitation(w http.ResponseWriter, r *http.Request) error {
	_, org, id, err := s.authorizeInvitation(r, auth.PermOrgRead, auth.PermOrgUserRead)
	if err != nil {
		return err
	}
	inv, found, err := s.Queries.Invitation(r.Context(), org, id)
	if err != nil {
		return err
	}
	if !found {
		return domain.ErrInvitationNotFound
	}
	o, err := s.registered(r, org)
	if err != nil {
		return err
	}
	now := s.Now()
	return answerTagged(w, r, domain.InvitationTag(inv.Invitation, o.Version, now), newInvitationResource(inv.Invitation, o.Name, now))
}

func (s *server) cancelInvitation(w http.ResponseWriter, r *http.Request) error {
	p, org, id, err := s.authorizeInvitation(r, auth.PermOrgUserInvite)
	if err != nil {
		return err
	}
	cond, err := preconditionOf(r)
	if err != nil {
		return err
	}
	err = s.Commands.CancelInvitation(r.Context(), commands.CancelInvitation{
		OrganizationID: org, InvitationID: id, Actor: p.Subject,
		MayManagePrivileged: p.Can(org, auth.PermOrgAdmin), Precondition: cond,
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) resendInvitation(w http.ResponseWriter, r *http.Request) error {
	p, org, id, err := s.authorizeInvitation(r, auth.PermOrgUserInvite)
	if err != nil {
		return err
	}
	cond, err := preconditionOf(r)
	if err != nil {
		return err
	}
	var body struct {
		ExpiresIn *string `json:"expires_in"`
		SendEmail *bool   `json:"send_email"`
	}
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	expiresIn := domain.DefaultExpiresIn
	if body.ExpiresIn != nil {
		var ok bool
		if expiresIn, ok = domain.ParseExpiresIn(*body.ExpiresIn); !ok {
			return invalid(`expires_in must be a duration ("36h") or whole days ("3d") from 1 hour to 30 days.`, "expires_in")
		}
	}
	res, err := s.Commands.ResendInvitation(r.Context(), commands.ResendInvitation{
		OrganizationID: org, InvitationID: id, ExpiresIn: expiresIn, Actor: p.Subject,
		MayManagePrivileged: p.Can(org, auth.PermOrgAdmin), Precondition: cond,
		InviterName: p.Name, SkipEmail: body.SendEmail != nil && !*body.SendEmail,
	})
	if err != nil {
		return err
	}
	now := s.Now()
	// The state it made, so that the next change can name it in If-Match.
	w.Header().Set("ETag", entityTag(domain.InvitationTag(res.Invitation.Invitation, res.Organization.Version, now)))
	writeJSON(w, http.StatusOK, newInvitationResource(res.Invitation.Invitation, res.Organization.Name, now).withToken(res.Invitation.Token, s.AcceptURL))
	return nil
}

func (s *server) invitationEvents(w http.ResponseWriter, r *http.Request) error {
	_, org, id, err := s.authorizeInvitation(r, auth.PermOrgRead, auth.PermOrgUserRead)
	if err != nil {
		return err
	}
	events, _, err := s.Events.Load(r.Context(), domain.StreamID{Kind: domain.KindInvitation, OrganizationID: org, Key: id})
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return domain.ErrInvitationNotFound
	}
	out := make([]eventResource, len(events))
	for i, e := range events {
		out[i] = newEventResource(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}
