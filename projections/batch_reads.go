package projections

import (
	"context"
	"slices"
)

// batchReads answers the projector's reads while it fills a batch: the
// states its earlier writes make, else the store's.
type batchReads struct {
	Store
	organizations map[string]Organization
	invitations   map[[2]string]Invitation
}

func (r *batchReads) Organization(ctx context.Context, id string) (Organization, bool, error) {
	if o, ok := r.organizations[id]; ok {
		return o, true, nil
	}
	return r.Store.Organization(ctx, id)
}

func (r *batchReads) Invitation(ctx context.Context, organizationID, id string) (Invitation, bool, error) {
	if inv, ok := r.invitations[[2]string{organizationID, id}]; ok {
		return inv, true, nil
	}
	return r.Store.Invitation(ctx, organizationID, id)
}

// remember keeps what w writes for the reads of the events after it.
func (r *batchReads) remember(w Write) {
	if o := w.Organization; o != nil {
		if r.organizations == nil {
			r.organizations = map[string]Organization{}
		}
		r.organizations[o.ID] = *o
	}
	for _, inv := range slices.Concat(w.ErasedInvitations, optional(w.Invitation)) {
		if r.invitations == nil {
			r.invitations = map[[2]string]Invitation{}
		}
		r.invitations[[2]string{inv.OrganizationID, inv.ID}] = inv
	}
}

// optional lists what p points to, nothing for nil.
func optional[T any](p *T) []T {
	if p == nil {
		return nil
	}
	return []T{*p}
}
