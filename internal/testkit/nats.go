package testkit

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/internal/redisserver"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// SubscriberConsumers are the durable consumers the tests' subscriber owns.
var SubscriberConsumers = []string{"mailer"}

// Admin is a user of every test server with every permission, as an
// operator's own: for tests that inspect or damage the stream (list its
// consumers, delete a message), which no role may.
const Admin eventstore.Role = "test-admin"

// NATS is a test's embedded JetStream server. Its users are the roles
// (eventstore.RoleUsers), as in the service, and Admin.
type NATS struct {
	Server *server.Server
	// URL is its TCP address, when it listens on one.
	URL string
	// Keys is the directory of the roles' seed files (eventstore.SeedFile).
	Keys string
}

// StartNATS starts an embedded JetStream server in a fresh directory,
// in-process only, or also on a free loopback port when listen is set. It
// stops when t ends.
func StartNATS(t testing.TB, listen bool) *NATS {
	t.Helper()
	return StartNATSWith(t, listen, func(*eventstore.EmbeddedConfig) {})
}

// StartNATSWith is StartNATS with the server's configuration changed by
// configure first (fsync on every write, JetStream limits).
func StartNATSWith(t testing.TB, listen bool, configure func(*eventstore.EmbeddedConfig)) *NATS {
	t.Helper()
	NeedsServers(t)
	n := &NATS{Keys: t.TempDir()}
	keys, err := eventstore.RoleKeys(n.Keys, append([]eventstore.Role{Admin}, eventstore.Roles...))
	if err != nil {
		t.Fatal(err)
	}
	users := append(eventstore.RoleUsers(keys, SubscriberConsumers), &server.NkeyUser{Nkey: keys[Admin]})
	cfg := eventstore.EmbeddedConfig{DataDir: t.TempDir(), Users: users}
	configure(&cfg)
	if listen {
		port, err := redisserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen = "127.0.0.1:" + port
	}
	if n.Server, err = eventstore.StartEmbedded(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Server.Shutdown)
	if listen {
		n.URL = n.Server.ClientURL()
	}
	return n
}

// Seed is the seed file of role, for a client's --nats-nkey.
func (n *NATS) Seed(role eventstore.Role) string { return eventstore.SeedFile(n.Keys, role) }

// Connect opens an in-process connection as role, closed when t ends. The
// service's connection replies under its own inbox prefix, as the
// service's does. Extra options come last.
func (n *NATS) Connect(t testing.TB, role eventstore.Role, extra ...nats.Option) *nats.Conn {
	t.Helper()
	creds := eventstore.Credentials{NKeyFile: n.Seed(role)}
	opts, err := creds.Options()
	if role == eventstore.RoleService {
		opts, err = eventstore.ServiceOptions(creds)
	}
	if err != nil {
		t.Fatal(err)
	}
	nc, err := eventstore.ConnectEmbedded(n.Server, t.Name(), append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream starts an embedded JetStream server in a fresh directory with the
// INVITATIONS stream, and returns it with an in-process connection as the
// service.
func JetStream(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	return JetStreamWith(t, func(*eventstore.EmbeddedConfig) {})
}

// JetStreamWith is JetStream on a server configured as StartNATSWith's.
func JetStreamWith(t testing.TB, configure func(*eventstore.EmbeddedConfig)) (*server.Server, *nats.Conn) {
	t.Helper()
	n := StartNATSWith(t, false, configure)
	nc := n.Connect(t, eventstore.RoleService)
	store, err := eventstore.New(nc, Keys(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := eventstore.EnsureStream(context.Background(), store.JetStream(), 1); err != nil {
		t.Fatal(err)
	}
	return n.Server, nc
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

// StoreFiles is every byte of the server's JetStream files, to look for
// what must not be at rest.
func (n *NATS) StoreFiles(t testing.TB) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(n.Server.JetStreamConfig().StoreDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		all = append(all, data...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}
