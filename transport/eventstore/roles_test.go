package eventstore_test

import (
	"context"
	"errors"
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

// client is a connection as one role, with the permission violations the
// server reported to it.
type client struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan error
}

func connectAs(t *testing.T, n *testkit.NATS, role eventstore.Role) *client {
	t.Helper()
	c := &client{violations: make(chan error, 64)}
	c.nc = n.Connect(t, role, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case c.violations <- err:
			default:
			}
		}
	}))
	var err error
	if c.js, err = jetstream.New(c.nc, jetstream.WithDefaultTimeout(time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// refused checks that try fails and that the server reported a permission
// violation on subject.
func (c *client) refused(t *testing.T, what, subject string, try func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := try(ctx); err == nil {
		t.Errorf("%s: allowed", what)
		return
	}
	select {
	case err := <-c.violations:
		if !strings.Contains(err.Error(), `"`+subject+`"`) {
			t.Errorf("%s: violation %v, want one on %s", what, err, subject)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("%s: failed without a permission violation on %s", what, subject)
	}
}

// sent is the outcome of a core publish: the server refuses it
// asynchronously, which refused then looks for.
func sent(err error) error {
	if err != nil {
		return err
	}
	return errors.New("sent; only the server's answer tells")
}

// rolesFixture is a server listening on TCP with the stream, one event
// written by the service and the service's durable consumer.
type rolesFixture struct {
	nats    *testkit.NATS
	service *eventstore.Store
	stream  jetstream.Stream
}

func newRolesFixture(t *testing.T) *rolesFixture {
	t.Helper()
	f := &rolesFixture{nats: testkit.StartNATS(t, true)}
	var err error
	if f.service, err = eventstore.New(f.nats.Connect(t, eventstore.RoleService), testkit.Keys(t)); err != nil {
		t.Fatal(err)
	}
	js := f.service.JetStream()
	if err := eventstore.EnsureStream(t.Context(), js, 1); err != nil {
		t.Fatal(err)
	}
	f.append(t, domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "admin"})
	if f.stream, err = js.Stream(t.Context(), eventstore.StreamName); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stream.CreateConsumer(t.Context(), jetstream.ConsumerConfig{Durable: eventstore.ServiceDurable, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *rolesFixture) append(t *testing.T, p domain.Payload) {
	t.Helper()
	id := domain.StreamOf(p)
	_, pos, err := f.service.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	e := domain.NewEvent("ev-"+time.Now().Format(time.RFC3339Nano), time.Now(), p)
	if _, err := f.service.Append(t.Context(), []domain.Event{e}, map[domain.StreamID]domain.Position{id: pos}); err != nil {
		t.Fatal(err)
	}
}

// streamAs connects as role and gets the stream, as that role sees it.
func (f *rolesFixture) streamAs(t *testing.T, role eventstore.Role) (*client, jetstream.Stream) {
	t.Helper()
	c := connectAs(t, f.nats, role)
	stream, err := c.js.Stream(t.Context(), eventstore.StreamName)
	if err != nil {
		t.Fatalf("the stream's info as %s: %v", role, err)
	}
	return c, stream
}

// state is the stream's message count and configuration, as the service sees them.
func (f *rolesFixture) state(t *testing.T) (uint64, jetstream.StreamConfig) {
	t.Helper()
	info, err := f.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs, info.Config
}

// forgedMembership is the attack of issue 10: mallory made an owner of acme.
func forgedMembership(t *testing.T) *nats.Msg {
	t.Helper()
	e := domain.NewEvent("forged", time.Now(), domain.MembershipAdded{OrganizationID: "acme", UserID: "mallory",
		Email: "mallory@example.com", Role: domain.RoleOwner, Actor: "mallory"})
	body, err := domain.MarshalCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(eventstore.Subject(e))
	m.Data = body
	if m.Subject != "members.acme."+domain.SHA256("mallory")+".added" {
		t.Fatalf("forged event on %s", m.Subject)
	}
	return m
}

// Nobody connects without credentials, in process or over TCP, nor with a
// key the server does not know.
func TestAnonymousRefused(t *testing.T) {
	n := testkit.StartNATS(t, true)
	stranger := t.TempDir()
	if _, err := eventstore.RoleKeys(stranger, eventstore.Roles); err != nil {
		t.Fatal(err)
	}
	unknown, err := eventstore.Credentials{NKeyFile: eventstore.SeedFile(stranger, eventstore.RoleService)}.Options()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		url       string
		opts      []nats.Option
		inProcess bool
	}{
		// In process, the server's refusal ends in a closed pipe after
		// its write deadline (10 s) rather than in the -ERR line.
		{"in process", n.Server.ClientURL(), []nats.Option{nats.InProcessServer(n.Server)}, true},
		{"tcp", n.URL, nil, false},
		{"unknown nkey", n.URL, unknown, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			nc, err := nats.Connect(c.url, c.opts...)
			switch {
			case err == nil:
				nc.Close()
				t.Error("connected")
			case !c.inProcess && !errors.Is(err, nats.ErrAuthorization):
				t.Errorf("%v, want an authorization violation", err)
			}
		})
	}
}

// What issue 10's attacker did with a connection, refused to a subscriber:
// forging an event, shrinking or deleting the stream, taking the
// service's consumer, watching the publish attempts with core NATS.
func TestSubscriberCannotWrite(t *testing.T) {
	f := newRolesFixture(t)
	sub := connectAs(t, f.nats, eventstore.RoleSubscriber)
	msgs, cfg := f.state(t)

	forged := forgedMembership(t)
	sub.refused(t, "publish a forged membership.added", forged.Subject, func(ctx context.Context) error {
		_, err := sub.js.PublishMsg(ctx, forged)
		return err
	})
	sub.refused(t, "core publish of a forged membership.added", forged.Subject, func(context.Context) error {
		return sent(sub.nc.PublishMsg(forged))
	})
	shrunk := cfg
	shrunk.MaxMsgs, shrunk.Discard = 5, jetstream.DiscardOld
	sub.refused(t, "edit the stream to --max-msgs 5 --discard old", "$JS.API.STREAM.UPDATE.INVITATIONS", func(ctx context.Context) error {
		_, err := sub.js.UpdateStream(ctx, shrunk)
		return err
	})
	sub.refused(t, "delete the stream", "$JS.API.STREAM.DELETE.INVITATIONS", func(ctx context.Context) error {
		return sub.js.DeleteStream(ctx, eventstore.StreamName)
	})
	sub.refused(t, "purge the stream", "$JS.API.STREAM.PURGE.INVITATIONS", func(ctx context.Context) error {
		s, err := sub.js.Stream(ctx, eventstore.StreamName)
		if err == nil {
			err = s.Purge(ctx)
		}
		return err
	})
	sub.refused(t, "delete the service's consumer", "$JS.API.CONSUMER.DELETE.INVITATIONS."+eventstore.ServiceDurable, func(ctx context.Context) error {
		return sub.js.DeleteConsumer(ctx, eventstore.StreamName, eventstore.ServiceDurable)
	})
	sub.refused(t, "pull from the service's consumer", "$JS.API.CONSUMER.MSG.NEXT.INVITATIONS."+eventstore.ServiceDurable, func(context.Context) error {
		return sent(sub.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.INVITATIONS."+eventstore.ServiceDurable, sub.nc.NewRespInbox(), []byte(`{"batch":1}`)))
	})
	sub.refused(t, "a consumer of a name it does not own", "$JS.API.CONSUMER.CREATE.INVITATIONS.webhooks", func(ctx context.Context) error {
		_, err := sub.js.CreateConsumer(ctx, eventstore.StreamName, jetstream.ConsumerConfig{Durable: "webhooks"})
		return err
	})
	sub.refused(t, "core subscription to invitations.>", "invitations.>", func(context.Context) error {
		s, err := sub.nc.SubscribeSync("invitations.>")
		if err != nil {
			return err
		}
		if err := sub.nc.Flush(); err != nil {
			return err
		}
		// A refused subscription sees nothing, the service's writes included.
		f.append(t, domain.OrganizationRenamed{OrganizationID: "acme", Name: "Acme Corp", Actor: "admin"})
		if m, err := s.NextMsg(200 * time.Millisecond); err == nil {
			t.Errorf("a subscriber's core subscription received %s", m.Subject)
		}
		return errors.New("no message")
	})

	after, afterCfg := f.state(t)
	if after != msgs+1 { // the rename written during the subscription attempt
		t.Errorf("the stream holds %d messages, want %d", after, msgs+1)
	}
	if afterCfg.MaxMsgs != cfg.MaxMsgs || afterCfg.Discard != cfg.Discard {
		t.Errorf("the stream's limits changed: max msgs %d, discard %v", afterCfg.MaxMsgs, afterCfg.Discard)
	}
	if _, err := f.stream.Consumer(t.Context(), eventstore.ServiceDurable); err != nil {
		t.Errorf("the service's consumer: %v", err)
	}
}

// A subscriber does what a downstream team needs: its own durable pull
// consumer, fetched and acknowledged, and the stream's info.
func TestSubscriberReadsItsConsumer(t *testing.T) {
	f := newRolesFixture(t)
	sub, stream := f.streamAs(t, eventstore.RoleSubscriber)
	ctx := t.Context()
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: testkit.SubscriberConsumers[0],
		FilterSubject: "organizations.*.*", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	f.append(t, domain.OrganizationRenamed{OrganizationID: "acme", Name: "Acme Corp", Actor: "admin"})
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for m := range batch.Messages() {
		e, err := domain.UnmarshalCloudEvent(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, e.Type)
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	if err := batch.Error(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(types, ",") != "organization.registered,organization.renamed" {
		t.Errorf("fetched %v", types)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 2 || info.NumPending != 0 {
		t.Errorf("ack floor %d, pending %d: want 2, 0", info.AckFloor.Stream, info.NumPending)
	}
	if err := stream.DeleteConsumer(ctx, testkit.SubscriberConsumers[0]); err != nil {
		t.Errorf("deleting its own consumer: %v", err)
	}
	select {
	case err := <-sub.violations:
		t.Errorf("permission violation: %v", err)
	default:
	}
}

// The auditor reads (ordered consumers, direct gets, the stream's info) and
// does nothing else.
func TestAuditorOnlyReads(t *testing.T) {
	f := newRolesFixture(t)
	aud, stream := f.streamAs(t, eventstore.RoleAuditor)
	ctx := t.Context()
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"organizations.*.*"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	if meta, _ := m.Metadata(); meta == nil || meta.Sequence.Stream != 1 {
		t.Errorf("ordered consumer read %v", meta)
	}
	if err := stream.DeleteConsumer(ctx, cons.CachedInfo().Name); err != nil {
		t.Errorf("deleting its ordered consumer: %v", err)
	}
	if raw, err := stream.GetMsg(ctx, 1); err != nil || raw.Subject != "organizations.acme.registered" {
		t.Errorf("direct get: %v, %v", raw, err)
	}

	aud.refused(t, "publish a forged membership.added", forgedMembership(t).Subject, func(ctx context.Context) error {
		_, err := aud.js.PublishMsg(ctx, forgedMembership(t))
		return err
	})
	for _, durable := range append([]string{eventstore.ServiceDurable}, testkit.SubscriberConsumers...) {
		aud.refused(t, "create (or update) durable consumer "+durable, "$JS.API.CONSUMER.CREATE.INVITATIONS."+durable, func(ctx context.Context) error {
			_, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: durable})
			return err
		})
		aud.refused(t, "delete durable consumer "+durable, "$JS.API.CONSUMER.DELETE.INVITATIONS."+durable, func(ctx context.Context) error {
			return stream.DeleteConsumer(ctx, durable)
		})
	}
	aud.refused(t, "the legacy durable create", "$JS.API.CONSUMER.DURABLE.CREATE.INVITATIONS.audit", func(ctx context.Context) error {
		_, err := aud.nc.RequestWithContext(ctx, "$JS.API.CONSUMER.DURABLE.CREATE.INVITATIONS.audit",
			[]byte(`{"stream_name":"INVITATIONS","config":{"durable_name":"audit","ack_policy":"none"}}`))
		return err
	})
	aud.refused(t, "ack", "$JS.ACK.INVITATIONS."+eventstore.ServiceDurable+".1.1.1.0.0", func(context.Context) error {
		return sent(aud.nc.Publish("$JS.ACK.INVITATIONS."+eventstore.ServiceDurable+".1.1.1.0.0", []byte("+ACK")))
	})
	shrunk := f.stream.CachedInfo().Config
	shrunk.MaxMsgs = 5
	aud.refused(t, "edit the stream", "$JS.API.STREAM.UPDATE.INVITATIONS", func(ctx context.Context) error {
		_, err := aud.js.UpdateStream(ctx, shrunk)
		return err
	})
	if n, _ := f.state(t); n != 1 {
		t.Errorf("the stream holds %d messages, want 1", n)
	}
}

// The key bucket: the service makes it and reads, writes and erases its
// entries; the auditor may read the entries (wrapped, they open nothing
// without the key-encryption key) but neither write nor erase one; a
// subscriber may not even read them.
func TestKeyBucketRoles(t *testing.T) {
	f := newRolesFixture(t)
	keys := testkit.KeyStore(t, f.nats.Connect(t, eventstore.RoleService))
	sealed, err := keys.Seal(t.Context(), domain.InvitationCreated{OrganizationID: "acme", InvitationID: "i1", Email: "ada@example.com",
		EmailHMAC: "h", EmailSealed: &domain.Sealed{Generation: 1}})
	if err != nil {
		t.Fatalf("the service seals: %v", err)
	}
	if _, err := keys.Shred(t.Context(), "acme", "h", 1); err != nil {
		t.Fatalf("the service erases: %v", err)
	}

	auditor := connectAs(t, f.nats, eventstore.RoleAuditor)
	stream, err := auditor.js.Stream(t.Context(), keystore.StreamName)
	if err != nil {
		t.Fatalf("the auditor reads the bucket's info: %v", err)
	}
	if _, err := stream.GetMsg(t.Context(), 1); err != nil {
		t.Fatalf("the auditor reads an entry: %v", err)
	}
	if d := sealed.(domain.InvitationCreated); d.Email != "" || len(d.EmailSealed.Ciphertext) == 0 {
		t.Fatalf("sealed as %+v", d)
	}
	auditor.refused(t, "the auditor writes an entry", "$KV.INVITESVC_KEYS.data.acme.h.2", func(ctx context.Context) error {
		return sent(auditor.nc.Publish("$KV.INVITESVC_KEYS.data.acme.h.2", []byte("forged")))
	})
	auditor.refused(t, "the auditor erases an entry", "$JS.API.STREAM.MSG.DELETE."+keystore.StreamName, func(ctx context.Context) error {
		return stream.SecureDeleteMsg(ctx, 1)
	})
	auditor.refused(t, "the auditor deletes the bucket", "$JS.API.STREAM.DELETE."+keystore.StreamName, func(ctx context.Context) error {
		return auditor.js.DeleteStream(ctx, keystore.StreamName)
	})

	sub := connectAs(t, f.nats, eventstore.RoleSubscriber)
	sub.refused(t, "a subscriber reads the bucket", "$JS.API.STREAM.INFO."+keystore.StreamName, func(ctx context.Context) error {
		_, err := sub.js.Stream(ctx, keystore.StreamName)
		return err
	})
	sub.refused(t, "a subscriber reads an entry", "$JS.API.STREAM.MSG.GET."+keystore.StreamName, func(ctx context.Context) error {
		_, err := sub.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+keystore.StreamName, []byte(`{"seq":1}`))
		return err
	})
}
