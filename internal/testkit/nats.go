package testkit

import (
	"context"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// JetStream starts an embedded JetStream server in a fresh directory with the
// INVITATIONS stream, and returns it with an in-process connection.
func JetStream(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	NeedsServers(t)
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := eventstore.ConnectEmbedded(ns, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	store, err := eventstore.New(nc, Keys(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := eventstore.EnsureStream(context.Background(), store.JetStream(), 1); err != nil {
		t.Fatal(err)
	}
	return ns, nc
}

// Keys are a fresh signing key and a keyring holding its public key.
func Keys(t testing.TB) eventstore.Keys {
	t.Helper()
	signer, err := signing.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Keys{Signer: signer, Keyring: signing.NewKeyring(signer.Public())}
}
