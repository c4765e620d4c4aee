package commands

import (
	"context"

	"github.com/invitesvc/invitesvc/domain"
)

// sealing is the event store as the handlers see it: every address is
// sealed on its way in and opened on its way out, so that no decision
// handles a ciphertext and no append stores an address in clear.
type sealing struct {
	EventStore
	personal PersonalData
}

func (s sealing) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	events, pos, err := s.EventStore.Load(ctx, id)
	if err != nil {
		return nil, pos, err
	}
	// The store may share its events with its cache: open copies.
	opened := make([]domain.Recorded, len(events))
	for i, e := range events {
		opened[i] = e
		if opened[i].Data, err = s.personal.Open(ctx, e.Data); err != nil {
			return nil, domain.Position{}, err
		}
	}
	return opened, pos, nil
}

func (s sealing) Append(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (uint64, error) {
	sealed := make([]domain.Event, len(events))
	for i, e := range events {
		sealed[i] = e
		var err error
		if sealed[i].Data, err = s.personal.Seal(ctx, e.Data); err != nil {
			return 0, err
		}
	}
	return s.EventStore.Append(ctx, sealed, expected)
}
