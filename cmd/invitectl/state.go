package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// aggregates folds events into the states of many aggregates of one kind with
// the domain's own Apply, keeping them in the order they first appeared.
type aggregates[S any, P interface {
	*S
	Apply(domain.Event)
}] struct {
	byID  map[domain.StreamID]P
	order []P
}

func (a *aggregates[S, P]) apply(e domain.Event) {
	id := domain.StreamOf(e.Data)
	s, ok := a.byID[id]
	if !ok {
		if a.byID == nil {
			a.byID = map[domain.StreamID]P{}
		}
		s = P(new(S))
		a.byID[id] = s
		a.order = append(a.order, s)
	}
	s.Apply(e)
}

type organizationJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type invitationJSON struct {
	ID        string        `json:"id"`
	Email     string        `json:"email"`
	Role      domain.Role   `json:"role"`
	Status    domain.Status `json:"status"`
	Version   int           `json:"version"`
	ExpiresAt time.Time     `json:"expires_at"`
}

type memberJSON struct {
	UserID       string      `json:"user_id"`
	Email        string      `json:"email"`
	Role         domain.Role `json:"role"`
	JoinedAt     time.Time   `json:"joined_at"`
	InvitationID string      `json:"invitation_id"`
}

// stateJSON is an organization as it was at a point in time.
type stateJSON struct {
	Organization organizationJSON `json:"organization"`
	At           time.Time        `json:"at"`
	Invitations  []invitationJSON `json:"invitations"`
	Members      []memberJSON     `json:"members"`
}

func stateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("state [flags] ORG", stderr)
	at := fs.String("at", "", "an RFC 3339 time, or a stream sequence: the state just after it (default: now)")
	ids, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	org := ids[0]
	if err := checkIDs(org, ""); err != nil {
		return err
	}
	r, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.close()
	q := query{filters: eventstore.OrganizationFilters(org)}
	asOf, err := r.pointInTime(ctx, *at, &q)
	if err != nil {
		return err
	}
	var (
		organization domain.Organization
		invitations  aggregates[domain.Invitation, *domain.Invitation]
		members      aggregates[domain.Membership, *domain.Membership]
		read         int
	)
	err = r.read(ctx, q, func(ev event) error {
		read++
		switch domain.StreamOf(ev.Data).Kind {
		case domain.KindOrganization:
			organization.Apply(ev.Event)
		case domain.KindInvitation:
			invitations.apply(ev.Event)
		case domain.KindMembership:
			members.apply(ev.Event)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if read == 0 {
		return fmt.Errorf("organization %s has no events up to %s", org, timestamp(asOf))
	}
	state := stateJSON{Organization: organizationJSON{ID: org, Name: organization.Name}, At: asOf,
		Invitations: []invitationJSON{}, Members: []memberJSON{}}
	for _, inv := range invitations.order {
		state.Invitations = append(state.Invitations, invitationJSON{ID: inv.ID, Email: inv.Email, Role: inv.Role,
			Status: inv.StatusAt(asOf), Version: inv.Version, ExpiresAt: inv.ExpiresAt})
	}
	for _, m := range members.order {
		if m.Active {
			state.Members = append(state.Members, memberJSON{UserID: m.UserID, Email: m.Email, Role: m.Role,
				JoinedAt: m.JoinedAt, InvitationID: m.InvitationID})
		}
	}
	if wantJSON(stdout, c.json) {
		return json.NewEncoder(stdout).Encode(state)
	}
	return printState(stdout, state)
}

// pointInTime bounds q by --at and returns the time statuses are taken at:
// for a sequence, the time the stream stored that event.
func (r *reader) pointInTime(ctx context.Context, at string, q *query) (time.Time, error) {
	if at == "" {
		return time.Now(), nil
	}
	if seq, err := strconv.ParseUint(at, 10, 64); err == nil {
		msg, err := r.stream.GetMsg(ctx, seq)
		if err != nil {
			return time.Time{}, fmt.Errorf("--at %d: %w", seq, err)
		}
		q.toSeq = seq
		return msg.Time, nil
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at %q: want an RFC 3339 time or a stream sequence", at)
	}
	q.until = t
	return t, nil
}

func printState(w io.Writer, s stateJSON) error {
	orgs := [][]string{{"ORGANIZATION", "NAME", "AT"}, {s.Organization.ID, s.Organization.Name, timestamp(s.At)}}
	invs := [][]string{{"INVITATION", "EMAIL", "ROLE", "STATUS", "VERSION", "EXPIRES_AT"}}
	for _, i := range s.Invitations {
		invs = append(invs, []string{i.ID, i.Email, string(i.Role), string(i.Status), fmt.Sprint(i.Version), timestamp(i.ExpiresAt)})
	}
	members := [][]string{{"MEMBER", "EMAIL", "ROLE", "JOINED_AT", "INVITATION"}}
	for _, m := range s.Members {
		members = append(members, []string{m.UserID, m.Email, string(m.Role), timestamp(m.JoinedAt), m.InvitationID})
	}
	return printSections(w, orgs, invs, members)
}
