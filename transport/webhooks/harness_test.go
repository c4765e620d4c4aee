package webhooks_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
	"github.com/invitesvc/invitesvc/transport/webhooks"
)

// The dispatcher's tests run on a real JetStream (the embedded server, as
// the service role, so the role's permissions are tested too) and post to
// real HTTP servers the test starts, whose handlers verify every signature
// with the Standard Webhooks project's own Go library: nothing of the
// sender's code.

// world is one JetStream server and what replicas share on it.
type world struct {
	t    *testing.T
	nats *testkit.NATS
	keys eventstore.Keys
	kek  *keystore.KEK
	// pool trusts the receivers' certificates.
	pool *x509.CertPool
}

func newWorld(t *testing.T) *world {
	testkit.NeedsServers(t)
	kek, err := keystore.LoadKEK(testkit.KEKFile(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, nats: testkit.StartNATS(t, false), keys: testkit.Keys(t), kek: kek, pool: x509.NewCertPool()}
	r := w.replica(replicaConfig{noDispatcher: true})
	r.append(domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "admin"})
	r.append(domain.OrganizationRegistered{OrganizationID: "globex", Name: "Globex", Actor: "admin"})
	return w
}

// replicaConfig changes how a replica dispatches.
type replicaConfig struct {
	policy       webhooks.Policy
	hosts        map[string]string
	schedule     []time.Duration
	disableAfter time.Duration
	overlap      time.Duration
	timeout      time.Duration
	noDispatcher bool
}

// replica is one process of the service, as far as webhooks go.
type replica struct {
	w          *world
	nc         *nats.Conn
	events     *eventstore.Store
	stores     *webhooks.Stores
	api        *webhooks.API
	handlers   *commands.WebhookHandlers
	dispatcher *webhooks.Dispatcher
	metrics    *prometheus.Registry
}

// fast is the retry schedule of the tests: milliseconds, not hours.
var fast = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond, 320 * time.Millisecond}

func (w *world) replica(cfg replicaConfig) *replica {
	t := w.t
	t.Helper()
	nc := w.nats.Connect(t, eventstore.RoleService)
	events, err := eventstore.New(nc, w.keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := eventstore.EnsureStream(ctx, events.JetStream(), 1); err != nil {
		t.Fatal(err)
	}
	stores, err := webhooks.OpenStores(ctx, events.JetStream(), 1, w.kek)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.overlap == 0 {
		cfg.overlap = time.Hour
	}
	if cfg.schedule == nil {
		cfg.schedule = fast
	}
	r := &replica{w: w, nc: nc, events: events, stores: stores, metrics: prometheus.NewRegistry()}
	r.handlers = commands.NewWebhooks(events, stores.Secrets, testkit.NoReads{}, time.Now, testkit.NoObserver{}, cfg.overlap)
	r.api = webhooks.NewAPI(r.handlers, events.History(), stores, cfg.policy)
	if !cfg.noDispatcher {
		r.dispatcher, err = webhooks.Start(webhooks.Config{JetStream: events.JetStream(), Stores: stores, Events: events.History(),
			Keyring: w.keys.Keyring, Disabler: r.handlers.DisableWebhook,
			Sender:   webhooks.SenderConfig{Policy: cfg.policy, Timeout: cmp(cfg.timeout, 5*time.Second), RootCAs: w.pool, Hosts: cfg.hosts},
			Schedule: cfg.schedule, DisableAfter: cfg.disableAfter, LeaseTTL: time.Second,
			Metrics: webhooks.NewMetrics(r.metrics), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.dispatcher.Close)
	}
	return r
}

func cmp(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// append writes payloads as one batch, each on an aggregate expected where
// it stands: the events the dispatcher is to deliver.
func (r *replica) append(payloads ...domain.Payload) uint64 {
	r.w.t.Helper()
	ctx := context.Background()
	events := make([]domain.Event, len(payloads))
	expected := map[domain.StreamID]domain.Position{}
	for i, p := range payloads {
		events[i] = domain.NewEvent(uuid.Must(uuid.NewV7()).String(), time.Now(), p)
		_, pos, err := r.events.Load(ctx, domain.StreamOf(p))
		if err != nil {
			r.w.t.Fatal(err)
		}
		expected[domain.StreamOf(p)] = pos
	}
	seq, err := r.events.Append(ctx, events, expected)
	if err != nil {
		r.w.t.Fatal(err)
	}
	return seq
}

// cancelled is an event of a new invitation of org, which endpoints
// subscribed to invitation.cancelled want.
func cancelled(org string) domain.InvitationCancelled {
	return domain.InvitationCancelled{OrganizationID: org, InvitationID: uuid.Must(uuid.NewV7()).String(), Actor: "admin"}
}

// create makes an endpoint of org to url for events.
func (r *replica) create(org, url string, events ...string) (domain.Webhook, string) {
	r.w.t.Helper()
	hook, secret, err := r.api.Create(context.Background(), commands.CreateWebhook{OrganizationID: org,
		Settings: domain.WebhookSettings{URL: url, Events: events}, Actor: "admin"})
	if err != nil {
		r.w.t.Fatal(err)
	}
	return hook, secret
}

func (w *world) receiver() *testkit.Receiver {
	w.t.Helper()
	return testkit.StartReceiver(w.t, w.pool)
}

// eventIDs are the ids of the events stored at seqs, in that order: the
// webhook-ids their deliveries carry.
func (r *replica) eventIDs(seqs ...uint64) []string {
	r.w.t.Helper()
	ids := make([]string, len(seqs))
	js := r.events.JetStream()
	stream, err := js.Stream(context.Background(), eventstore.StreamName)
	if err != nil {
		r.w.t.Fatal(err)
	}
	for i, seq := range seqs {
		m, err := stream.GetMsg(context.Background(), seq)
		if err != nil {
			r.w.t.Fatal(err)
		}
		e, err := domain.UnmarshalCloudEvent(m.Data)
		if err != nil {
			r.w.t.Fatal(err)
		}
		ids[i] = e.ID
	}
	return ids
}

func describe(ids []string) string { return fmt.Sprintf("%d: %v", len(ids), ids) }

// attemptsCounted is the replica's count of attempts of outcome.
func attemptsCounted(t *testing.T, r *replica, outcome string) float64 {
	t.Helper()
	families, err := r.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "invitesvc_webhook_attempts_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no attempts counted as %s", outcome)
	return 0
}
