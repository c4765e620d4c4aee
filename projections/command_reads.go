package projections

import "context"

// CommandReads is the read side as the commands need it (their Projection
// port): waiting for their events to show, whether the read store answers,
// and the token index.
type CommandReads struct {
	*Waiter
	Store Store
}

// Ready reports whether the read store answers.
func (c CommandReads) Ready(ctx context.Context) error { return unavailable(c.Store.Ping(ctx)) }

// InvitationIDByToken resolves a token hash through the token index.
func (c CommandReads) InvitationIDByToken(ctx context.Context, tokenSHA256 string) (string, string, bool, error) {
	m, err := c.Store.InvitationByToken(ctx, tokenSHA256)
	return m.Invitation.OrganizationID, m.Invitation.ID, m.Found, unavailable(err)
}
