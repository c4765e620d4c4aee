package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// fixture is a JetStream server on a TCP port, as invitectl meets one, with
// the stream and a writer that appends events as the commands do. Its users
// are the roles: the writer is the service, invitectl the auditor; the test
// sees the stream as an admin.
type fixture struct {
	url     string
	service eventstore.Credentials
	auditor eventstore.Credentials
	stream  jetstream.Stream
	store   *eventstore.Store
	keys    eventstore.Keys
	// signingKey and pubKey are the files of the writer's key pair.
	signingKey, pubKey string
	// kekFile is the key-encryption key of the key bucket, personal the
	// service's key store over it.
	kekFile  string
	personal *keystore.Store
	last     map[domain.StreamID]domain.Position
	written  []domain.Event // by sequence - 1
}

// newFixture starts the server and makes the stream as the service does,
// changed by opts. invitectl takes the auditor's seed from the environment,
// as an operator's would.
func newFixture(t testing.TB, opts ...func(*jetstream.StreamConfig)) *fixture {
	t.Helper()
	n := testkit.StartNATS(t, true)
	auditor := eventstore.Credentials{NKeyFile: n.Seed(eventstore.RoleAuditor)}
	t.Setenv("INVITECTL_NATS_NKEY", auditor.NKeyFile)
	f := &fixture{url: n.URL, service: eventstore.Credentials{NKeyFile: n.Seed(eventstore.RoleService)}, auditor: auditor,
		last: map[domain.StreamID]domain.Position{}}
	f.openStore(t, n.Connect(t, eventstore.RoleService))
	// invitectl takes the key-encryption key from the environment too.
	f.kekFile = testkit.KEKFile(t)
	t.Setenv("INVITECTL_KEY_ENCRYPTION_KEY_FILE", f.kekFile)
	kek, err := keystore.LoadKEK(f.kekFile)
	if err != nil {
		t.Fatal(err)
	}
	f.personal = testkit.KeyStoreWith(t, n.Connect(t, eventstore.RoleService), kek)
	cfg := eventstore.StreamConfig(1)
	for _, o := range opts {
		o(&cfg)
	}
	if _, err = f.store.JetStream().CreateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	admin, err := jetstream.New(n.Connect(t, testkit.Admin))
	if err != nil {
		t.Fatal(err)
	}
	if f.stream, err = admin.Stream(t.Context(), eventstore.StreamName); err != nil {
		t.Fatal(err)
	}
	return f
}

// openStore makes the fixture's writer on nc, with a fresh signing key.
func (f *fixture) openStore(t testing.TB, nc *nats.Conn) {
	t.Helper()
	dir := t.TempDir()
	f.keys, f.signingKey, f.pubKey = testkit.KeysIn(t, dir), filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.pub")
	var err error
	if f.store, err = eventstore.New(nc, f.keys); err != nil {
		t.Fatal(err)
	}
}

// append writes payloads as one atomic batch, timed now, and returns the
// last sequence.
func (f *fixture) append(t *testing.T, payloads ...domain.Payload) uint64 {
	t.Helper()
	now := time.Now()
	events := make([]domain.Event, len(payloads))
	expected := map[domain.StreamID]domain.Position{}
	for i, p := range payloads {
		events[i] = domain.NewEvent(fmt.Sprint("ev-", len(f.written)+i+1), now, p)
		expected[domain.StreamOf(p)] = f.last[domain.StreamOf(p)]
	}
	seq, err := f.store.Append(t.Context(), events, expected)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		_, pos, err := f.store.Load(t.Context(), domain.StreamOf(p))
		if err != nil {
			t.Fatal(err)
		}
		f.last[domain.StreamOf(p)] = pos
	}
	f.written = append(f.written, events...)
	return seq
}

// run runs invitectl against the fixture and returns what it printed.
func (f *fixture) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := f.try(args...)
	if err != nil {
		t.Fatalf("invitectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (f *fixture) try(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(append([]string{args[0], "--nats-url", f.url}, args[1:]...), &out, &errOut)
	if err != nil {
		err = fmt.Errorf("%w (stderr: %s)", err, errOut.String())
	}
	return out.String(), err
}

// consumers counts the stream's consumers, durable or not.
func (f *fixture) consumers(t *testing.T) int {
	t.Helper()
	list := f.stream.ListConsumers(t.Context())
	n := 0
	for range list.Info() {
		n++
	}
	if err := list.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// jsonLines decodes output that must be one JSON object a line.
func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var records []T
	for line := range strings.Lines(out) {
		var r T
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		records = append(records, r)
	}
	return records
}

// terminal is an output that invitectl takes for a terminal.
type terminal struct{ bytes.Buffer }

func (*terminal) Stat() (os.FileInfo, error) { return os.Stat("/dev/null") }

// waitFor polls cond for up to 30 s: generous, for a loaded CI machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
