package service

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// openKeys makes sure of the key bucket beside the stream, with its
// replicas, and opens it with the configured key-encryption keys: a bucket
// holding keys that none of them wraps is refused here, at start, rather
// than found unreadable later. Keys that a previous KEK still wraps are
// rewrapped in the background.
func (s *Service) openKeys(ctx context.Context) error {
	current, previous, err := s.cfg.keyEncryptionKeys()
	if err != nil {
		return err
	}
	js := s.events.JetStream()
	if err := eventstore.Ensure(ctx, js, keystore.StreamConfig(s.cfg.Replicas)); err != nil {
		return err
	}
	if s.personal, err = keystore.Open(ctx, js, current, previous); err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	if len(previous) > 0 {
		s.rewrapInBackground("key store: every key", s.personal.Rewrap, current)
	}
	return nil
}

// rewrapInBackground runs a rewrap with the current KEK after start, and
// logs how it ended: what it names may be read meanwhile with either KEK.
func (s *Service) rewrapInBackground(what string, rewrap func(context.Context) (int, error), current *keystore.KEK) {
	s.background.Go(func() {
		n, err := rewrap(s.ctx)
		if err != nil {
			s.cfg.Logger.Error(what+": rewrap with the current key-encryption key stopped; it resumes at the next start", "rewrapped", n, "error", err)
			return
		}
		s.cfg.Logger.Info(what+" is wrapped by the current key-encryption key", "rewrapped", n, "kek_id", current.ID())
	})
}

// keyEncryptionKeys reads the KEK files; dev mode (none given) keeps one
// in the data directory, as it does the signing key.
func (c Config) keyEncryptionKeys() (*keystore.KEK, []*keystore.KEK, error) {
	var current *keystore.KEK
	var err error
	if c.KEKFile == "" {
		current, err = keystore.LoadOrCreateKEK(filepath.Join(c.DataDir, "key-encryption-key"))
	} else {
		current, err = keystore.LoadKEK(c.KEKFile)
	}
	if err != nil {
		return nil, nil, err
	}
	var previous []*keystore.KEK
	for _, path := range c.PreviousKEKFiles {
		k, err := keystore.LoadKEK(path)
		if err != nil {
			return nil, nil, err
		}
		previous = append(previous, k)
	}
	return current, previous, nil
}

// openedHistory is the audit's reads of the stream with every address
// opened (or marked erased), as the API shows them.
type openedHistory struct {
	eventstore.History
	personal *keystore.Store
}

func (h openedHistory) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	events, pos, err := h.History.Load(ctx, id)
	if err != nil {
		return nil, pos, err
	}
	events, err = h.open(ctx, events)
	return events, pos, err
}

func (h openedHistory) OrganizationEvents(ctx context.Context, organizationID string) ([]domain.Recorded, error) {
	events, err := h.History.OrganizationEvents(ctx, organizationID)
	if err != nil {
		return nil, err
	}
	return h.open(ctx, events)
}

func (h openedHistory) open(ctx context.Context, events []domain.Recorded) ([]domain.Recorded, error) {
	for i := range events {
		var err error
		if events[i].Data, err = h.personal.Open(ctx, events[i].Data); err != nil {
			return nil, err
		}
	}
	return events, nil
}
