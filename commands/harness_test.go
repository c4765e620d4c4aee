package commands_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// The handler tests run on the in-memory event store, which passes the
// same conformance suite as JetStream, in given-events / when-command /
// then-appended-events-or-error form.

var (
	now    = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	before = now.Add(-time.Hour) // when the given events happened
)

// recorder is the event store under test: it keeps every event appended, in
// order, and can let a rival writer win the race of the first append.
type recorder struct {
	*eventstore.Memory

	mu     sync.Mutex
	events []domain.Event
	// given are the ids of the events the test wrote, not a command.
	given map[string]bool
	// rival, when set, is appended just before the first Append of the
	// command is forwarded, which then loses the race.
	rival []domain.Payload
	// alwaysLose refuses every append as a lost race, writing nothing.
	alwaysLose bool
	conflicts  int
	lostAt     []time.Time // when each lost race was answered
	lost       func()      // when set, called on each lost race
	// hold, when set, keeps every Append waiting until it is closed (or
	// its context ends); each says first on arrived that it is there.
	hold, arrived chan struct{}
}

func (r *recorder) Append(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (uint64, error) {
	r.mu.Lock()
	rival, lose, hold := r.rival, r.alwaysLose, r.hold
	r.rival = nil
	r.mu.Unlock()
	if hold != nil {
		r.arrived <- struct{}{}
		select {
		case <-hold:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if lose {
		r.conflict()
		return 0, domain.ErrConflict
	}
	if rival != nil {
		if err := r.write(ctx, rival, before); err != nil {
			return 0, err
		}
	}
	seq, err := r.forward(ctx, events, expected)
	if errors.Is(err, domain.ErrConflict) {
		r.conflict()
	}
	return seq, err
}

func (r *recorder) conflict() {
	r.mu.Lock()
	r.conflicts++
	r.lostAt = append(r.lostAt, time.Now())
	lost := r.lost
	r.mu.Unlock()
	if lost != nil {
		lost()
	}
}

func (r *recorder) forward(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (uint64, error) {
	seq, err := r.Memory.Append(ctx, events, expected)
	if err == nil {
		r.mu.Lock()
		r.events = append(r.events, events...)
		r.mu.Unlock()
	}
	return seq, err
}

// write appends payloads as one batch at time at, each expecting where its
// aggregate stands: history, not a decision under test.
func (r *recorder) write(ctx context.Context, payloads []domain.Payload, at time.Time) error {
	events := make([]domain.Event, len(payloads))
	expected := map[domain.StreamID]domain.Position{}
	for i, p := range payloads {
		events[i] = domain.NewEvent(uuid.NewString(), at, p)
		_, pos, err := r.Load(ctx, domain.StreamOf(p))
		if err != nil {
			return err
		}
		expected[domain.StreamOf(p)] = pos
	}
	_, err := r.forward(ctx, events, expected)
	if err == nil {
		r.mu.Lock()
		if r.given == nil {
			r.given = map[string]bool{}
		}
		for _, e := range events {
			r.given[e.ID] = true
		}
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) wasGiven(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.given[id]
}

func (r *recorder) all() []domain.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// projection is a fake of the commands' read side. It resolves tokens from
// every event ever appended and never forgets a rotated one, like a read
// model that lags: only the command's own check can refuse an old token.
type projection struct {
	events *recorder

	mu        sync.Mutex
	notReady  error
	lookupErr error
	waited    uint64 // the highest sequence waited for
}

func (p *projection) WaitFor(_ context.Context, seq uint64) {
	p.mu.Lock()
	p.waited = max(p.waited, seq)
	p.mu.Unlock()
}

func (p *projection) Ready(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notReady
}

func (p *projection) InvitationIDByToken(_ context.Context, tokenSHA256 string) (string, string, bool, error) {
	if p.lookupErr != nil {
		return "", "", false, p.lookupErr
	}
	for _, e := range p.events.all() {
		switch d := e.Data.(type) {
		case domain.InvitationCreated:
			if d.TokenSHA256 == tokenSHA256 {
				return d.OrganizationID, d.InvitationID, true, nil
			}
		case domain.InvitationResent:
			if d.TokenSHA256 == tokenSHA256 {
				return d.OrganizationID, d.InvitationID, true, nil
			}
		}
	}
	return "", "", false, nil
}

// done is one report to the observer.
type done struct {
	command, outcome string
	attempts         int
}

type observer struct {
	mu   sync.Mutex
	done []done
}

func (o *observer) CommandDone(command, outcome string, attempts int) {
	o.mu.Lock()
	o.done = append(o.done, done{command, outcome, attempts})
	o.mu.Unlock()
}

// harness is one command's world: a store holding the given events and the
// handlers over it.
type harness struct {
	t        *testing.T
	store    *recorder
	reads    *projection
	observer *observer
	clock    time.Time
	handlers *commands.Handlers
	settled  int // events appended before the command under test
	keys     *keystore.Store
	nats     *nats.Conn // the keys' server
	kek      *keystore.KEK
}

// newKeys is a key bucket of its own, on a server of its own: the keys of
// one test's addresses, and what opens them.
func newKeys(t *testing.T) (*keystore.Store, *nats.Conn, *keystore.KEK) {
	t.Helper()
	nc := testkit.StartNATS(t, false).Connect(t, eventstore.RoleService)
	kek, err := keystore.LoadKEK(testkit.KEKFile(t))
	if err != nil {
		t.Fatal(err)
	}
	return testkit.KeyStoreWith(t, nc, kek), nc, kek
}

// replica is the handlers of another process on the same stores: its own
// locks and key caches, racing h's through the stores alone.
func (h *harness) replica() *commands.Handlers {
	return commands.New(h.store, testkit.KeyStoreWith(h.t, h.nats, h.kek), h.reads, func() time.Time { return h.clock }, h.observer)
}

func newHarness(t *testing.T, given ...domain.Payload) *harness {
	t.Helper()
	store := &recorder{Memory: eventstore.NewMemory(testkit.Keys(t))}
	h := &harness{t: t, store: store, reads: &projection{events: store}, observer: &observer{}, clock: now}
	h.keys, h.nats, h.kek = newKeys(t)
	h.handlers = commands.New(store, h.keys, h.reads, func() time.Time { return h.clock }, h.observer)
	for _, p := range given {
		if err := store.write(t.Context(), []domain.Payload{p}, before); err != nil {
			t.Fatalf("given %T: %v", p, err)
		}
	}
	h.settle()
	return h
}

// settle makes everything appended so far given: what follows is checked.
func (h *harness) settle() { h.settled = len(h.store.all()) }

// appended is what was appended since the given events.
func (h *harness) appended() []domain.Event { return h.store.all()[h.settled:] }

// wantAppended checks the payloads appended since the given events, in
// order, in their test form (see plain).
func (h *harness) wantAppended(want ...domain.Payload) {
	h.t.Helper()
	got := h.appended()
	payloads := make([]domain.Payload, len(got))
	for i, e := range got {
		if e.Type != e.Data.EventType() {
			h.t.Fatalf("event %d typed %q, its payload %q", i, e.Type, e.Data.EventType())
		}
		payloads[i] = h.plain(e)
	}
	if !reflect.DeepEqual(payloads, want) && (len(payloads) > 0 || len(want) > 0) {
		h.t.Fatalf("appended:\n%s\nwant:\n%s", describe(payloads), describe(want))
	}
}

// fixtureEmails are the addresses the tests use, whose keyed identifiers
// plain turns back into addresses.
var fixtureEmails = []string{adaEmail, bobEmail, "eve@example.com", "ada+1@example.com", "ada+2@example.com"}

// plain is an appended event in the form the tests write their
// expectations in, revision 1's: the address opened and in clear, the slot
// named by its SHA-256. It fails the test unless the event is of the
// current revision, its address sealed (under the first key generation,
// unless the test erases) and named by its keyed identifier.
func (h *harness) plain(e domain.Event) domain.Payload {
	h.t.Helper()
	ctx := h.t.Context()
	if e.Revision == 1 && h.store.wasGiven(e.ID) {
		return e.Data // history the test wrote in revision 1's form
	}
	opened, err := h.keys.Open(ctx, e.Data)
	if err != nil {
		h.t.Fatalf("%s: %v", e.Type, err)
	}
	check := func(org, email, emailHMAC string, sealed *domain.Sealed) {
		h.t.Helper()
		want, err := h.keys.EmailHMAC(ctx, org, email)
		if err != nil || e.Revision != 2 || sealed == nil || len(sealed.Ciphertext) == 0 || emailHMAC != want {
			h.t.Fatalf("%s appended as revision %d, sealed %+v, keyed %q (want %q, %v)", e.Type, e.Revision, sealed, emailHMAC, want, err)
		}
	}
	switch d := opened.(type) {
	case domain.InvitationCreated:
		check(d.OrganizationID, d.Email, d.EmailHMAC, d.EmailSealed)
		d.EmailHMAC, d.EmailSealed = "", nil
		return d
	case domain.MembershipAdded:
		check(d.OrganizationID, d.Email, d.EmailHMAC, d.EmailSealed)
		d.EmailHMAC, d.EmailSealed = "", nil
		return d
	case domain.EmailReserved:
		email := h.emailOf(d.OrganizationID, d.EmailHMAC)
		if e.Revision != 2 || email == "" {
			h.t.Fatalf("%s appended as revision %d, for no fixture address (%q)", e.Type, e.Revision, d.EmailHMAC)
		}
		d.EmailHMAC, d.EmailSHA256 = "", domain.SHA256(email)
		return d
	}
	return opened
}

// current is payloads, written in the tests' form, as this build appends
// them: addresses sealed under the first key generation, slots keyed. What
// another replica writes is in this form.
func (h *harness) current(payloads []domain.Payload) []domain.Payload {
	h.t.Helper()
	ctx := h.t.Context()
	keyed := func(org, email string) string {
		k, err := h.keys.EmailHMAC(ctx, org, email)
		if err != nil {
			h.t.Fatal(err)
		}
		return k
	}
	out := make([]domain.Payload, len(payloads))
	for i, p := range payloads {
		switch d := p.(type) {
		case domain.InvitationCreated:
			d.EmailHMAC, d.EmailSealed = keyed(d.OrganizationID, d.Email), &domain.Sealed{Generation: 1}
			p = d
		case domain.MembershipAdded:
			d.EmailHMAC, d.EmailSealed = keyed(d.OrganizationID, d.Email), &domain.Sealed{Generation: 1}
			p = d
		case domain.EmailReserved:
			for _, email := range fixtureEmails {
				if domain.SHA256(email) == d.EmailSHA256 {
					d.EmailHMAC, d.EmailSHA256 = keyed(d.OrganizationID, email), ""
				}
			}
			p = d
		}
		sealed, err := h.keys.Seal(ctx, p)
		if err != nil {
			h.t.Fatal(err)
		}
		out[i] = sealed
	}
	return out
}

// emailOf is the fixture address of a keyed identifier, "" for none.
func (h *harness) emailOf(org, emailHMAC string) string {
	h.t.Helper()
	for _, email := range fixtureEmails {
		if k, err := h.keys.EmailHMAC(h.t.Context(), org, email); err != nil {
			h.t.Fatal(err)
		} else if k == emailHMAC {
			return email
		}
	}
	return ""
}

// wantVisible checks that the command waited until the read side showed
// the last event written (read your writes).
func (h *harness) wantVisible() {
	h.t.Helper()
	last, err := h.store.LastSequence(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	if h.reads.waited != last {
		h.t.Fatalf("waited for sequence %d, the last written is %d", h.reads.waited, last)
	}
}

// wantDone checks the last report to the observer.
func (h *harness) wantDone(command, outcome string, attempts int) {
	h.t.Helper()
	want := done{command, outcome, attempts}
	if n := len(h.observer.done); n == 0 || h.observer.done[n-1] != want {
		h.t.Fatalf("observer heard %+v; want last %+v", h.observer.done, want)
	}
}

func describe(payloads []domain.Payload) string {
	var b strings.Builder
	for _, p := range payloads {
		fmt.Fprintf(&b, "\t%T %+v\n", p, p)
	}
	return b.String()
}

// wantErr checks err against want by code (or sentinel); nil wants none.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if (err == nil) != (want == nil) || !errors.Is(err, want) {
		t.Fatalf("error %v; want %v", err, want)
	}
}

// scenario is one row of a handler's table: the given events, the command,
// and the events appended after the given ones or the error.
type scenario[C, R any] struct {
	name   string
	given  []domain.Payload
	when   C
	then   []domain.Payload
	err    error
	fields []string // of the first violation, when set
	// result checks the answer, when set and the command succeeded.
	result func(*testing.T, R)
}

// run runs each scenario on a fresh store. handle runs the command; drawn,
// when set, fills into the expected events what the command drew at random
// (ids, tokens), read off its answer.
func run[C, R any](t *testing.T, handle func(*harness, C) (R, error), drawn func(R, []domain.Payload) []domain.Payload, tests []scenario[C, R]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.given...)
			res, err := handle(h, tt.when)
			wantErr(t, err, tt.err)
			if tt.fields != nil {
				if v := domain.Violations(err); len(v) == 0 || !slices.Equal(v[0].Fields, tt.fields) {
					t.Fatalf("error %v; want fields %v", err, tt.fields)
				}
			}
			want := tt.then
			if drawn != nil && err == nil {
				want = drawn(res, want)
			}
			h.wantAppended(want...)
			if err == nil && len(want) > 0 {
				h.wantVisible()
			}
			if tt.result != nil && err == nil {
				tt.result(t, res)
			}
		})
	}
}

// nothing is the answer of a command that answers only its error.
type nothing struct{}

// The commands that answer only their error, as run wants them.

func cancelInvitation(h *harness, cmd commands.CancelInvitation) (nothing, error) {
	return nothing{}, h.handlers.CancelInvitation.Handle(h.t.Context(), cmd)
}

func removeMember(h *harness, cmd commands.RemoveMember) (nothing, error) {
	return nothing{}, h.handlers.RemoveMember.Handle(h.t.Context(), cmd)
}

func expireInvitation(h *harness, cmd commands.ExpireInvitation) (nothing, error) {
	return nothing{}, h.handlers.ExpireInvitation.Handle(h.t.Context(), cmd)
}

// Fixtures: organization acme, people ada and bob.
const (
	org      = "acme"
	adaEmail = "ada@example.com"
	bobEmail = "bob@example.com"
	ada      = "user-ada"
	bob      = "user-bob"
	admin    = "user-admin"
)

// adaCaller is ada signed in, her email in another case.
var adaCaller = domain.Caller{UserID: ada, Email: "Ada@Example.com"}

func history(parts ...[]domain.Payload) []domain.Payload { return slices.Concat(parts...) }

func acme() []domain.Payload {
	return []domain.Payload{domain.OrganizationRegistered{OrganizationID: org, Name: "Acme", Actor: admin}}
}

// tokenOf is the token the given invitation id was created with.
func tokenOf(id string) string { return "token-" + id }

// invite is invitation id created for email with its slot.
func invite(id, email string, role domain.Role, expiresAt time.Time) []domain.Payload {
	return []domain.Payload{
		domain.InvitationCreated{OrganizationID: org, InvitationID: id, Email: email, Role: role,
			TokenSHA256: domain.SHA256(tokenOf(id)), ExpiresAt: expiresAt, Actor: admin},
		slot(email, id, admin),
	}
}

func pending(id, email string) []domain.Payload {
	return invite(id, email, domain.RoleMember, now.Add(24*time.Hour))
}

func expiredAt(id, email string) []domain.Payload {
	return invite(id, email, domain.RoleMember, now.Add(-time.Minute))
}

func privileged(id, email string) []domain.Payload {
	return invite(id, email, domain.RoleAdmin, now.Add(24*time.Hour))
}

func slot(email, id, actor string) domain.EmailReserved {
	return domain.EmailReserved{OrganizationID: org, EmailSHA256: domain.SHA256(email), InvitationID: id, Actor: actor}
}

// joined is invitation id accepted by user, with the membership it gives.
func joined(id, user, email string) []domain.Payload {
	return []domain.Payload{
		domain.InvitationAccepted{OrganizationID: org, InvitationID: id, UserID: user, Actor: user},
		domain.MembershipAdded{OrganizationID: org, UserID: user, Email: email, Role: domain.RoleMember, InvitationID: id, Actor: user},
	}
}

func cancelled(id, actor string) domain.InvitationCancelled {
	return domain.InvitationCancelled{OrganizationID: org, InvitationID: id, Actor: actor}
}

func removed(user, id string) domain.MembershipRemoved {
	return domain.MembershipRemoved{OrganizationID: org, UserID: user, InvitationID: id, Actor: admin}
}
