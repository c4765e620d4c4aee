package eventstore_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/eventstore/eventstoretest"
)

func TestMemoryConformance(t *testing.T) {
	eventstoretest.Run(t, func(*testing.T) eventstoretest.Store { return eventstore.NewMemory() })
}
