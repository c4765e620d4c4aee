package commands

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/google/uuid"

	"github.com/invitesvc/invitesvc/domain"
)

// A command that loses the race of its append reloads and decides again, at
// most maxAttempts times. Within a process, commands on the same aggregates
// queue on streamLocks and do not race each other; the races left are with
// other replicas, so between tries a command sleeps a random time (full
// jitter) up to retryBase doubled at each try and at most retryCap, to
// spread the rivals out: at most 5+10+20+40+80+100+100 ms = 355 ms in all.
const (
	maxAttempts = 8
	retryBase   = 5 * time.Millisecond
	retryCap    = 100 * time.Millisecond
)

// maxLockWait bounds how long a command queues behind the commands before
// it on the same aggregates; then it answers a conflict, which the caller
// may retry. With the retries and the read-your-writes wait (projections'
// waitLimit, 20 s) it stays under the HTTP server's write timeout (30 s).
const maxLockWait = 3 * time.Second

// Handlers groups every command handler over the same dependencies.
type Handlers struct {
	RegisterOrganization *RegisterOrganizationHandler
	CreateInvitations    *CreateInvitationsHandler
	AcceptInvitation     *AcceptInvitationHandler
	CancelInvitation     *CancelInvitationHandler
	ResendInvitation     *ResendInvitationHandler
	RemoveMember         *RemoveMemberHandler
	ExpireInvitation     *ExpireInvitationHandler
	EraseEmail           *EraseEmailHandler
}

// New builds every handler. It panics on a nil dependency: that is a wiring bug.
func New(events EventStore, personal PersonalData, reads Projection, now func() time.Time, observer Observer) *Handlers {
	if events == nil || personal == nil || reads == nil || now == nil || observer == nil {
		panic("commands.New: nil dependency")
	}
	b := base{events: sealing{EventStore: events, personal: personal}, personal: personal, reads: reads, now: now, observer: observer, locks: newStreamLocks()}
	return &Handlers{
		RegisterOrganization: &RegisterOrganizationHandler{b},
		CreateInvitations:    &CreateInvitationsHandler{b},
		AcceptInvitation:     &AcceptInvitationHandler{b},
		CancelInvitation:     &CancelInvitationHandler{b},
		ResendInvitation:     &ResendInvitationHandler{b},
		RemoveMember:         &RemoveMemberHandler{b},
		ExpireInvitation:     &ExpireInvitationHandler{b},
		EraseEmail:           &EraseEmailHandler{b},
	}
}

type base struct {
	events   EventStore // sealing: addresses sealed on append, opened on load
	personal PersonalData
	reads    Projection
	now      func() time.Time
	observer Observer
	locks    *streamLocks
}

// attemptFunc decides once what a command writes. It loads through ctx,
// which notes every position it loads (see load).
type attemptFunc func(ctx context.Context, now time.Time) (decision, error)

// decision is what one attempt of a command wants written.
type decision struct {
	payloads []domain.Payload
	expected map[domain.StreamID]domain.Position
}

// execute runs attempt until its decision is appended without a lost race,
// then waits until the read models show it. attempt may decide nothing.
// locked are the streams the command writes that it knows before it loads
// anything: commands of this process that share one of them run one at a
// time.
func (b base) execute(ctx context.Context, command string, locked []domain.StreamID, attempt attemptFunc) error {
	ctx, span := tracer.Start(ctx, "command "+command)
	defer span.End()
	attempts := 0
	wrote, err := b.run(ctx, locked, &attempts, attempt)
	result := outcome(wrote, err)
	b.observer.CommandDone(command, result, attempts)
	span.SetAttributes(attribute.String("command.outcome", result), attribute.Int("command.attempts", attempts))
	if result == "error" || result == "unavailable" {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

var tracer = otel.Tracer("github.com/invitesvc/invitesvc/commands")

// outcome names how a command ended, for metrics.
func outcome(wrote bool, err error) string {
	switch {
	case err == nil && wrote:
		return "written"
	case err == nil:
		return "unchanged"
	case len(domain.Violations(err)) > 0:
		return "refused"
	case errors.Is(err, domain.ErrConflict):
		return "conflict"
	case errors.Is(err, domain.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

func (b base) run(ctx context.Context, locked []domain.StreamID, attempts *int, attempt attemptFunc) (wrote bool, err error) {
	if err := b.reads.Ready(ctx); err != nil {
		return false, fmt.Errorf("%w: read store: %w", domain.ErrUnavailable, err)
	}
	seq, wrote, err := b.decide(ctx, locked, attempts, attempt)
	if err != nil {
		return false, err
	}
	// What was read or written must be visible too; the locks are released
	// by now: the next command loads from the event store, not the read side.
	b.reads.WaitFor(ctx, seq)
	return wrote, nil
}

// decide holds the locks of locked while it runs attempt and appends its
// decision, retrying a lost race, and a decision that writes nothing made
// on loads that were no longer fresh. seq is the last position the
// decision was based on or wrote.
func (b base) decide(ctx context.Context, locked []domain.StreamID, attempts *int, attempt attemptFunc) (seq uint64, wrote bool, err error) {
	queued, cancel := context.WithTimeout(ctx, maxLockWait)
	unlock, err := b.locks.lock(queued, locked)
	cancel()
	if err != nil {
		return 0, false, fmt.Errorf("%w: still queued behind commands on the same aggregates: %w", domain.ErrConflict, err)
	}
	defer unlock()
	for try := range maxAttempts {
		if try > 0 {
			if err := sleep(ctx, backoff(try)); err != nil {
				return 0, false, fmt.Errorf("%w: before try %d: %w", domain.ErrConflict, try+1, err)
			}
		}
		*attempts++
		now := b.now()
		loads := &loadLog{positions: map[domain.StreamID]domain.Position{}}
		d, err := attempt(context.WithValue(ctx, loadLogKey{}, loads), now)
		if writesNothing(d, err) {
			// No append checks what it was decided on.
			fresh, ferr := b.events.Fresh(ctx, loads.positions)
			if ferr != nil {
				return 0, false, ferr
			}
			if !fresh {
				continue
			}
		}
		if err != nil {
			return 0, false, err
		}
		if len(d.payloads) == 0 {
			return maxSeq(d.expected), false, nil
		}
		events := make([]domain.Event, len(d.payloads))
		for i, p := range d.payloads {
			events[i] = domain.NewEvent(newID(), now, p)
		}
		seq, err := b.events.Append(ctx, events, d.expected)
		if errors.Is(err, domain.ErrConflict) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		return seq, true, nil
	}
	return 0, false, fmt.Errorf("%w: gave up after %d attempts", domain.ErrConflict, maxAttempts)
}

// writesNothing reports whether an attempt decided to write nothing: a
// refusal or nothing to do.
func writesNothing(d decision, err error) bool {
	if err != nil {
		return len(domain.Violations(err)) > 0
	}
	return len(d.payloads) == 0
}

// loadLog notes the position of every aggregate one attempt loads.
type loadLog struct {
	mu        sync.Mutex
	positions map[domain.StreamID]domain.Position
}

type loadLogKey struct{}

// backoff is how long to sleep before try (1 for the second): full jitter
// over retryBase doubled per try, capped at retryCap.
func backoff(try int) time.Duration {
	return mathrand.N(min(retryCap, retryBase<<(try-1)))
}

// sleep waits for d, or until ctx ends, and says whether it did.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return ctx.Err()
}

// load folds an aggregate's events into its state.
func load[S any, P interface {
	*S
	Apply(domain.Event)
}](ctx context.Context, es EventStore, id domain.StreamID) (S, domain.Position, error) {
	var s S
	events, last, err := es.Load(ctx, id)
	if err != nil {
		return s, domain.Position{}, err
	}
	if log, ok := ctx.Value(loadLogKey{}).(*loadLog); ok {
		log.mu.Lock()
		log.positions[id] = last
		log.mu.Unlock()
	}
	for _, e := range events {
		P(&s).Apply(e.Event)
	}
	return s, last, nil
}

// The streams of the aggregates, by what names them.

func organizationStream(id string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindOrganization, OrganizationID: id}
}

func invitationStream(org, id string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindInvitation, OrganizationID: org, Key: id}
}

func membershipStream(org, userID string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindMembership, OrganizationID: org, Key: userID}
}

func slotStream(org, emailHMAC string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: org, Key: emailHMAC}
}

// legacySlotStream is the slot revision 1 events named by the address's
// plain SHA-256.
func legacySlotStream(org, email string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: org, Key: domain.SHA256(email)}
}

// addressLock is what commands of this process on one address queue on. It
// is never written: it is named by the plain SHA-256 because the keyed
// identifier needs the organization's HMAC key, which a command on an
// organization that does not exist must not create.
func addressLock(org, email string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: org, Key: "lock:" + domain.SHA256(email)}
}

func idempotencyStream(org, key string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindIdempotency, OrganizationID: org, Key: domain.SHA256(key)}
}

func (b base) organization(ctx context.Context, id string) (domain.Organization, domain.Position, error) {
	return load[domain.Organization](ctx, b.events, organizationStream(id))
}

func (b base) invitation(ctx context.Context, org, id string) (domain.Invitation, domain.Position, error) {
	return load[domain.Invitation](ctx, b.events, invitationStream(org, id))
}

func (b base) membership(ctx context.Context, org, userID string) (domain.Membership, domain.Position, error) {
	return load[domain.Membership](ctx, b.events, membershipStream(org, userID))
}

// checkInvitation checks p against inv's tag at now, which names its
// organization's version too: the organization is loaded only when p
// demands something. It is not among the streams the command appends to,
// and needs not be: a rename after this load orders after the command,
// which read nothing else of the organization.
func (b base) checkInvitation(ctx context.Context, p domain.Precondition, inv domain.Invitation, now time.Time) error {
	if !p.Demands() {
		return nil
	}
	org, _, err := b.organization(ctx, inv.OrganizationID)
	if err != nil {
		return err
	}
	if !p.Holds(domain.InvitationTag(inv, org.Version, now)) {
		return domain.ErrPreconditionFailed
	}
	return nil
}

// slots loads an address's email slot, by its keyed identifier, and the
// slot revision 1 events named by its SHA-256: what holds the address's
// invitations until its first erasure. email may be empty (an address
// erased): there is no such slot then.
func (b base) slots(ctx context.Context, org, email, emailHMAC string) (keyed domain.EmailSlot, pos domain.Position, legacy domain.EmailSlot, err error) {
	keyed, pos, err = load[domain.EmailSlot](ctx, b.events, slotStream(org, emailHMAC))
	if err != nil || keyed.Erased > 0 || email == "" {
		return keyed, pos, legacy, err
	}
	legacy, _, err = load[domain.EmailSlot](ctx, b.events, legacySlotStream(org, email))
	return keyed, pos, legacy, err
}

// invitee loads what decides whether an address may get a pending
// invitation in org: its slot, the invitation holding it and that one's
// membership. Until the keyed slot has a record, the holder is the one of
// revision 1's slot.
func (b base) invitee(ctx context.Context, org, email, emailHMAC string) (domain.Invitee, domain.StreamID, domain.Position, error) {
	slotID := slotStream(org, emailHMAC)
	keyed, slotSeq, legacy, err := b.slots(ctx, org, email, emailHMAC)
	in := domain.Invitee{EmailHMAC: emailHMAC, KeyGeneration: keyed.Generation()}
	slot := keyed
	if keyed.Version == 0 {
		slot = legacy
	}
	if err != nil || slot.InvitationID == "" {
		return in, slotID, slotSeq, err
	}
	if in.Holder, _, err = b.invitation(ctx, org, slot.InvitationID); err != nil {
		return in, slotID, domain.Position{}, err
	}
	if in.Holder.AcceptedBy != "" {
		if in.HolderMember, _, err = b.membership(ctx, org, in.Holder.AcceptedBy); err != nil {
			return in, slotID, domain.Position{}, err
		}
	}
	return in, slotID, slotSeq, nil
}

func maxSeq(positions map[domain.StreamID]domain.Position) uint64 {
	var m uint64
	for _, s := range positions {
		m = max(m, s.Seq)
	}
	return m
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// NewToken draws an invitation token: 256 random bits, base64url (43 characters).
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// evolve applies freshly decided payloads to a state, to answer with it.
func evolve[S any, P interface {
	*S
	Apply(domain.Event)
}](s S, now time.Time, payloads ...domain.Payload) S {
	for _, p := range payloads {
		P(&s).Apply(domain.NewEvent("", now, p))
	}
	return s
}
