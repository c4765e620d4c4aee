package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// KEKFile is a fresh key-encryption key in a file, as an operator makes one.
func KEKFile(t testing.TB) string {
	t.Helper()
	key := make([]byte, keystore.KEKBytes)
	_, _ = rand.Read(key)
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// KeyStore makes the key bucket on nc's server, if there is none, and opens
// it with a fresh key-encryption key.
func KeyStore(t testing.TB, nc *nats.Conn) *keystore.Store {
	t.Helper()
	kek, err := keystore.LoadKEK(KEKFile(t))
	if err != nil {
		t.Fatal(err)
	}
	return KeyStoreWith(t, nc, kek)
}

// KeyStoreWith is KeyStore with the key-encryption key given.
func KeyStoreWith(t testing.TB, nc *nats.Conn, kek *keystore.KEK, previous ...*keystore.KEK) *keystore.Store {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := eventstore.Ensure(ctx, js, keystore.StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	s, err := keystore.Open(ctx, js, kek, previous)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
