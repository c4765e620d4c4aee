package testkit

import (
	"context"
	"path/filepath"
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
	return KeysIn(t, t.TempDir())
}

// KeysIn are the keys of the key pair kept in dir (as the service keeps
// its dev-mode one, in <data-dir>/signing), made if there is none.
func KeysIn(t testing.TB, dir string) eventstore.Keys {
	t.Helper()
	signer, err := signing.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Keys{Signer: signer, Keyring: signing.NewKeyring(signer.Public())}
}

// KeyFile is the private key file of a fresh key pair, for processes that
// must sign with one key (replicas).
func KeyFile(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	KeysIn(t, dir)
	return filepath.Join(dir, "signing.key")
}
