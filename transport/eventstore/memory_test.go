package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/eventstore/eventstoretest"
)

func TestMemoryConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store { return eventstore.NewMemory(testkit.Keys(t)) })
}

// The in-memory store verifies as Store does: events its keyring does not
// know make Load and the audit feed unavailable.
func TestMemoryRefusesUnverifiedEvents(t *testing.T) {
	writer, reader := testkit.Keys(t), testkit.Keys(t)
	m := eventstore.NewMemory(eventstore.Keys{Signer: writer.Signer, Keyring: reader.Keyring})
	e := created("i1")
	if _, err := m.Append(context.Background(), []domain.Event{e}, at(map[domain.StreamID]uint64{domain.StreamOf(e.Data): 0})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Load(context.Background(), domain.StreamOf(e.Data)); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Load = %v, want unavailable", err)
	}
	if _, err := m.OrganizationEvents(context.Background(), "acme"); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("OrganizationEvents = %v, want unavailable", err)
	}
}
