package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/eventstore/eventstoretest"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// replicas is one JetStream server with the stream, on which each call of
// store opens a store of its own connection (a replica of the service),
// and a spy on the direct gets they send.
type replicas struct {
	t    *testing.T
	nats *testkit.NATS
	keys eventstore.Keys
	kek  *keystore.KEK // the replicas' key-encryption key
	spy  *directGetSpy
}

func newReplicas(t *testing.T) *replicas {
	skipUnderShort(t)
	kek, err := keystore.LoadKEK(testkit.KEKFile(t))
	if err != nil {
		t.Fatal(err)
	}
	r := &replicas{t: t, nats: testkit.StartNATS(t, false), keys: testkit.Keys(t), kek: kek}
	if err := eventstore.EnsureStream(t.Context(), r.store(eventstore.WithCache(0)).JetStream(), 1); err != nil {
		t.Fatal(err)
	}
	r.spy = newDirectGetSpy(t, r.nats.Connect(t, testkit.Admin))
	return r
}

func (r *replicas) store(opts ...eventstore.Option) *eventstore.Store {
	s, err := eventstore.New(r.nats.Connect(r.t, eventstore.RoleService), r.keys, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// directGetSpy sees every direct get sent to the stream.
type directGetSpy struct {
	nc   *nats.Conn
	seen chan *nats.Msg
}

func newDirectGetSpy(t *testing.T, nc *nats.Conn) *directGetSpy {
	s := &directGetSpy{nc: nc, seen: make(chan *nats.Msg, 4096)}
	if _, err := nc.ChanSubscribe("$JS.API.DIRECT.GET.>", s.seen); err != nil {
		t.Fatal(err)
	}
	return s
}

// during returns the requests sent while fn ran.
func (s *directGetSpy) during(t *testing.T, fn func()) []map[string]any {
	t.Helper()
	s.take(t)
	fn()
	return s.take(t)
}

// take returns the requests seen since the last take. A request reaches
// the spy's connection before its answer reaches the sender, and a
// channel subscription is fed by the connection's reader, in order: once
// a flush's PONG is read, every request sent before is in the channel.
func (s *directGetSpy) take(t *testing.T) []map[string]any {
	t.Helper()
	if err := s.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var seen []map[string]any
	for {
		select {
		case m := <-s.seen:
			var req map[string]any
			if err := json.Unmarshal(m.Data, &req); err != nil {
				req = map[string]any{"unreadable": string(m.Data)}
			}
			seen = append(seen, req)
		default:
			return seen
		}
	}
}

func mustLoad(t *testing.T, s interface {
	Load(context.Context, domain.StreamID) ([]domain.Recorded, domain.Position, error)
}, id domain.StreamID) ([]domain.Recorded, domain.Position) {
	t.Helper()
	events, pos, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load(%+v): %v", id, err)
	}
	return events, pos
}

// appendAt appends events, each expecting its aggregate where store loads it.
func appendAt(t *testing.T, s *eventstore.Store, events ...domain.Event) uint64 {
	t.Helper()
	expected := map[domain.StreamID]domain.Position{}
	for _, e := range events {
		_, expected[domain.StreamOf(e.Data)] = mustLoad(t, s, domain.StreamOf(e.Data))
	}
	seq, err := s.Append(t.Context(), events, expected)
	if err != nil {
		t.Fatalf("Append(%s…): %v", events[0].ID, err)
	}
	return seq
}

func eventIDs(events []domain.Recorded) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func ev(id string, p domain.Payload) domain.Event { return domain.NewEvent(id, now, p) }

func resent(inv string, n int) domain.Event {
	return ev(fmt.Sprint("resent-", inv, "-", n), domain.InvitationResent{OrganizationID: "acme", InvitationID: inv,
		TokenSHA256: domain.SHA256(fmt.Sprint(n)), ExpiresAt: now.Add(time.Hour), Actor: "u1"})
}

func slotFor(inv string, n int) domain.Event {
	return ev(fmt.Sprint("slot-", inv, "-", n), domain.EmailReserved{OrganizationID: "acme", EmailSHA256: domain.SHA256(inv + "@example.com"), InvitationID: inv, Actor: "u1"})
}

// Loads read the server's per-subject index: the last event of each
// subject of the aggregate (multi_last), then each earlier one by its
// sequence; never a next_by_subj over a wildcard, which steps through
// every message block from the aggregate's first event to the end of the
// stream. An aggregate with no event costs one request.
func TestLoadReadsTheIndexNotAScan(t *testing.T) {
	r := newReplicas(t)
	s := r.store(eventstore.WithCache(0))
	org := ev("registered", domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "u1"})
	appendAt(t, s, org)
	inv := created("i1")
	appendAt(t, s, inv, slotFor("i1", 0))
	for n := 1; n <= 2; n++ {
		appendAt(t, s, resent("i1", n), slotFor("i1", n))
	}
	accepted := ev("accepted", domain.InvitationAccepted{OrganizationID: "acme", InvitationID: "i1", UserID: "u2", Actor: "u2"})
	appendAt(t, s, accepted, ev("joined", domain.MembershipAdded{OrganizationID: "acme", UserID: "u2", Email: "i1@example.com", Role: domain.RoleMember, InvitationID: "i1", Actor: "u2"}))

	for _, tc := range []struct {
		id       domain.StreamID
		want     []string
		requests int
	}{
		{domain.StreamOf(org.Data), []string{org.ID}, 1},
		// created, resent twice, accepted: the first resent is read by its sequence.
		{domain.StreamOf(inv.Data), []string{inv.ID, "resent-i1-1", "resent-i1-2", accepted.ID}, 2},
		// Three reservations of one subject: the last, then two by sequence.
		{domain.StreamOf(slotFor("i1", 0).Data), []string{"slot-i1-0", "slot-i1-1", "slot-i1-2"}, 3},
		{domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: "acme", Key: domain.SHA256("nobody@example.com")}, []string{}, 1},
	} {
		var events []domain.Recorded
		requests := r.spy.during(t, func() { events, _ = mustLoad(t, s, tc.id) })
		if got := eventIDs(events); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Load(%s) = %v; want %v", eventstore.Filter(tc.id), got, tc.want)
		}
		for _, req := range requests {
			if _, ok := req["next_by_subj"]; ok {
				t.Errorf("Load(%s) sent %v: a scan", eventstore.Filter(tc.id), req)
			}
		}
		if len(requests) != tc.requests {
			t.Errorf("Load(%s) sent %d requests %v; want %d", eventstore.Filter(tc.id), len(requests), requests, tc.requests)
		}
	}
}

// Events that do not say which event of their aggregate came before them
// (written past the store, without Nats-Expected-Last-Subject-Sequence)
// are read subject by subject, each a literal next_by_subj that the server
// finds through its index.
func TestLoadOfUnlinkedEventsReadsEachSubject(t *testing.T) {
	r := newReplicas(t)
	s := r.store(eventstore.WithCache(0))
	history := []domain.Event{created("i1"), resent("i1", 1), resent("i1", 2), resent("i1", 3)}
	writer := r.nats.Connect(t, eventstore.RoleService)
	for _, e := range history {
		body, err := domain.MarshalCloudEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writer.RequestMsg(eventstore.SignedMsg(r.keys.Signer, eventstore.Subject(e), body), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var events []domain.Recorded
	requests := r.spy.during(t, func() { events, _ = mustLoad(t, s, domain.StreamOf(history[0].Data)) })
	if got, want := eventIDs(events), []string{history[0].ID, history[1].ID, history[2].ID, history[3].ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %v; want %v", got, want)
	}
	for _, req := range requests {
		if subject, ok := req["next_by_subj"].(string); ok && strings.ContainsAny(subject, "*>") {
			t.Errorf("Load sent %v: a scan over a wildcard", req)
		}
	}
}

// A store keeps what it loaded and what it wrote: loading it again asks the
// server nothing, and gives what a store without a cache reads.
func TestCachedLoadAsksNothing(t *testing.T) {
	r := newReplicas(t)
	s, uncached := r.store(), r.store(eventstore.WithCache(0))
	org := ev("registered", domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "u1"})
	appendAt(t, uncached, org)
	inv, slot := created("i1"), slotFor("i1", 0)
	appendAt(t, s, inv, slot)
	appendAt(t, s, resent("i1", 1), slotFor("i1", 1))
	for _, e := range []domain.Event{org, inv, slot} {
		id := domain.StreamOf(e.Data)
		mustLoad(t, s, id)
		var cached []domain.Recorded
		var cachedAt domain.Position
		if requests := r.spy.during(t, func() { cached, cachedAt = mustLoad(t, s, id) }); len(requests) != 0 {
			t.Errorf("Load(%s) again sent %v", eventstore.Filter(id), requests)
		}
		stored, storedAt := mustLoad(t, uncached, id)
		if !reflect.DeepEqual(cached, stored) || cachedAt != storedAt {
			t.Errorf("Load(%s) from the cache = %v at %+v; the stream holds %v at %+v", eventstore.Filter(id), cached, cachedAt, stored, storedAt)
		}
	}
}

// The cache keeps at most its size, the least recently used going first.
func TestCacheKeepsItsSize(t *testing.T) {
	r := newReplicas(t)
	s := r.store(eventstore.WithCache(2))
	ids := make([]domain.StreamID, 3)
	for i := range ids {
		e := created(fmt.Sprint("i", i))
		ids[i] = domain.StreamOf(e.Data)
		appendAt(t, r.store(eventstore.WithCache(0)), e)
	}
	loads := func(id domain.StreamID) int {
		return len(r.spy.during(t, func() { mustLoad(t, s, id) }))
	}
	for _, id := range ids {
		if n := loads(id); n != 1 {
			t.Fatalf("first Load(%s) sent %d requests; want 1", eventstore.Filter(id), n)
		}
	}
	if n := eventstore.CachedAggregates(s); n != 2 {
		t.Fatalf("%d aggregates cached; want 2", n)
	}
	// i0 was the least recently used: gone. i2 is kept.
	if n := loads(ids[2]); n != 0 {
		t.Errorf("Load(i2) sent %d requests; want it cached", n)
	}
	if n := loads(ids[0]); n != 1 {
		t.Errorf("Load(i0) sent %d requests; want it read again", n)
	}
}

// Two replicas write the same aggregate, each from its cache: the one
// whose cache is stale loses the append (nothing written), its entry is
// dropped, and its next load reads what the other wrote.
func TestStaleCacheOnlyCostsAConflict(t *testing.T) {
	r := newReplicas(t)
	a, b := r.store(), r.store()
	inv := created("i1")
	id := domain.StreamOf(inv.Data)
	appendAt(t, a, inv)
	_, stale := mustLoad(t, b, id)
	_, at := mustLoad(t, a, id)
	cancel := ev("cancelled", domain.InvitationCancelled{OrganizationID: "acme", InvitationID: "i1", Actor: "u1"})
	if _, err := a.Append(t.Context(), []domain.Event{cancel}, map[domain.StreamID]domain.Position{id: at}); err != nil {
		t.Fatal(err)
	}

	// b still holds i1 as it was.
	if fresh, err := b.Fresh(t.Context(), map[domain.StreamID]domain.Position{id: stale}); err != nil || fresh {
		t.Fatalf("Fresh = %v, %v; want false", fresh, err)
	}
	_, stale = mustLoad(t, b, id) // read again, since Fresh dropped it
	resend := resent("i1", 1)
	if _, err := b.Append(t.Context(), []domain.Event{resend}, map[domain.StreamID]domain.Position{id: stale}); err != nil {
		t.Fatal(err)
	}
	_, stale = mustLoad(t, a, id) // a's cache holds i1 as a wrote it
	expired := ev("expired", domain.InvitationExpired{OrganizationID: "acme", InvitationID: "i1", Actor: domain.SystemActor})
	if _, err := a.Append(t.Context(), []domain.Event{expired}, map[domain.StreamID]domain.Position{id: stale}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("append on a stale cache = %v; want a conflict", err)
	}
	events, _ := mustLoad(t, a, id)
	if got, want := eventIDs(events), []string{inv.ID, cancel.ID, resend.ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the conflict Load = %v; want %v", got, want)
	}
}

// The audit reads the stream past the cache: another replica's write
// shows at once.
func TestHistoryReadsPastTheCache(t *testing.T) {
	r := newReplicas(t)
	a, b := r.store(), r.store()
	inv := created("i1")
	id := domain.StreamOf(inv.Data)
	appendAt(t, a, inv)
	mustLoad(t, b, id)
	appendAt(t, a, resent("i1", 1))
	if events, _ := mustLoad(t, b.History(), id); len(events) != 2 {
		t.Fatalf("b's history of i1 holds %v; want both events", eventIDs(events))
	}
}

// What one cached aggregate costs in memory: an invitation of two events
// (created, accepted) as the service stores them. README's cache
// paragraph states this figure.
func TestCacheEntryCost(t *testing.T) {
	const entries = 20_000
	s := eventstore.NewCacheForTest(entries)
	events := func(i int) []domain.Recorded {
		id := fmt.Sprintf("%036d", i)
		out := make([]domain.Recorded, 2)
		for k, e := range []domain.Event{
			domain.NewEvent(fmt.Sprintf("%036d", 2*i), now, domain.InvitationCreated{OrganizationID: "org-0042", InvitationID: id,
				Email: fmt.Sprintf("person.%d@example.com", i), Role: domain.RoleMember, TokenSHA256: domain.SHA256(id), ExpiresAt: now.Add(time.Hour), Actor: "admin-user-0001"}),
			domain.NewEvent(fmt.Sprintf("%036d", 2*i+1), now, domain.InvitationAccepted{OrganizationID: "org-0042", InvitationID: id, UserID: "user-" + id, Actor: "user-" + id}),
		} {
			body, err := domain.MarshalCloudEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			decoded, err := domain.UnmarshalCloudEvent(body)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = domain.Recorded{Event: decoded, Sequence: uint64(2*i + k + 1), Subject: eventstore.Subject(e), SHA256: domain.SHA256(string(body))}
		}
		return out
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range entries {
		s.Put(domain.StreamOf(events(i)[0].Data), events(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / entries
	t.Logf("one cached invitation of two events: %.0f bytes", perEntry)
	if perEntry > 2500 {
		t.Errorf("a cached invitation of two events costs %.0f bytes; README says about 1.6 KB", perEntry)
	}
	runtime.KeepAlive(s)
}

// The conformance suite holds for a store that reads the stream on every
// load, as for the cached one (TestJetStreamConformance).
func TestJetStreamConformanceWithoutCache(t *testing.T) {
	skipUnderShort(t)
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		_, nc := testkit.JetStream(t)
		s, err := eventstore.New(nc, testkit.Keys(t), eventstore.WithCache(0))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Fresh asks about any number of aggregates, though the server answers a
// multi_last of more than 1,024 subjects with 413: 400 aggregates of three
// subjects each.
func TestFreshOfManyAggregates(t *testing.T) {
	r := newReplicas(t)
	s := r.store()
	js := s.JetStream()
	loaded := map[domain.StreamID]domain.Position{}
	var seq uint64
	for k := range 400 {
		id := domain.StreamID{Kind: domain.KindInvitation, OrganizationID: "acme", Key: fmt.Sprint("i", k)}
		for _, verb := range []string{"created", "resent", "accepted"} {
			if _, err := js.PublishAsync(strings.TrimSuffix(eventstore.Filter(id), "*")+verb, []byte("{}")); err != nil {
				t.Fatal(err)
			}
			seq++
		}
		loaded[id] = domain.Position{Seq: seq}
	}
	<-js.PublishAsyncComplete()
	if fresh, err := s.Fresh(t.Context(), loaded); err != nil || !fresh {
		t.Fatalf("Fresh = %v, %v; want true", fresh, err)
	}
	loaded[domain.StreamID{Kind: domain.KindInvitation, OrganizationID: "acme", Key: "i7"}] = domain.Position{Seq: 3}
	if fresh, err := s.Fresh(t.Context(), loaded); err != nil || fresh {
		t.Fatalf("Fresh with i7 behind = %v, %v; want false", fresh, err)
	}
}
