package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/eventstore/eventstoretest"
)

// at states expectations by sequence alone; these tests do not chain hashes.
func at(seqs map[domain.StreamID]uint64) map[domain.StreamID]domain.Position {
	out := make(map[domain.StreamID]domain.Position, len(seqs))
	for id, seq := range seqs {
		out[id] = domain.Position{Seq: seq}
	}
	return out
}

// skipUnderShort skips a test that starts an embedded JetStream server.
func skipUnderShort(t *testing.T) {
	if testing.Short() {
		t.Skip("needs an embedded JetStream server")
	}
}

// newStore is a store on a fresh embedded JetStream server.
func newStore(t *testing.T) *eventstore.Store {
	s, _, _ := newStoreConn(t)
	return s
}

// newStoreConn is newStore with its connection and keys, to write the
// stream past the store. The server fsyncs every write, as the service's.
func newStoreConn(t *testing.T, opts ...eventstore.Option) (*eventstore.Store, *nats.Conn, eventstore.Keys) {
	return newStoreOn(t, func(*eventstore.EmbeddedConfig) {}, opts...)
}

// newStoreOn is newStoreConn on a server configured by configure too.
func newStoreOn(t *testing.T, configure func(*eventstore.EmbeddedConfig), opts ...eventstore.Option) (*eventstore.Store, *nats.Conn, eventstore.Keys) {
	skipUnderShort(t)
	_, nc := testkit.JetStreamWith(t, func(c *eventstore.EmbeddedConfig) {
		c.SyncAlways = true
		configure(c)
	})
	keys := testkit.Keys(t)
	s, err := eventstore.New(nc, keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, nc, keys
}

var now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func created(id string) domain.Event {
	return domain.NewEvent("ev-"+id, now, domain.InvitationCreated{OrganizationID: "acme", InvitationID: id,
		Email: id + "@example.com", Role: domain.RoleMember, TokenSHA256: domain.SHA256(id), ExpiresAt: now.Add(time.Hour), Actor: "u1"})
}

func TestJetStreamConformance(t *testing.T) {
	skipUnderShort(t)
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store { return newStore(t) })
}

// An aggregate longer than one direct-get batch is read whole.
func TestLoadPagesThroughLongAggregates(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id := domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: "acme", Key: domain.SHA256("x@example.com")}
	var last uint64
	for i := range 600 {
		e := domain.NewEvent(fmt.Sprint("r", i), now, domain.EmailReserved{OrganizationID: "acme", EmailSHA256: id.Key, InvitationID: fmt.Sprint(i)})
		seq, err := s.Append(ctx, []domain.Event{e}, at(map[domain.StreamID]uint64{id: last}))
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	events, got, err := s.Load(ctx, id)
	if err != nil || got.Seq != last || len(events) != 600 {
		t.Fatalf("load: %d events, last %+v (want %d), %v", len(events), got, last, err)
	}
}

// An event in the stream that the store's keyring does not verify (unsigned,
// signed by another key, or altered after signing) makes Load unavailable,
// naming its sequence, so that no command decides on it.
func TestLoadRefusesUnverifiedEvents(t *testing.T) {
	s, nc, keys := newStoreConn(t)
	ctx := context.Background()
	signed := created("i0")
	if _, err := s.Append(ctx, []domain.Event{signed}, at(map[domain.StreamID]uint64{domain.StreamOf(signed.Data): 0})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(ctx, domain.StreamOf(signed.Data)); err != nil {
		t.Fatalf("a signed event: %v", err)
	}
	other, err := signing.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forgeries := map[string]func(subject string, body []byte) *nats.Msg{
		"unsigned":  func(subject string, body []byte) *nats.Msg { return &nats.Msg{Subject: subject, Data: body} },
		"other-key": func(subject string, body []byte) *nats.Msg { return eventstore.SignedMsg(other, subject, body) },
		"altered": func(subject string, body []byte) *nats.Msg {
			m := eventstore.SignedMsg(keys.Signer, subject, []byte(`{}`))
			m.Data = body
			return m
		},
	}
	for name, forge := range forgeries {
		e := created(name)
		body, err := domain.MarshalCloudEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := nc.RequestMsg(forge(eventstore.Subject(e), body), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ack struct{ Seq uint64 }
		if err := json.Unmarshal(reply.Data, &ack); err != nil || ack.Seq == 0 {
			t.Fatalf("%s: publish %s, %v", name, reply.Data, err)
		}
		_, _, err = s.Load(ctx, domain.StreamOf(e.Data))
		if !errors.Is(err, domain.ErrUnavailable) || !strings.Contains(err.Error(), fmt.Sprintf("event %d ", ack.Seq)) {
			t.Fatalf("%s: Load = %v, want unavailable naming event %d", name, err, ack.Seq)
		}
	}
}
