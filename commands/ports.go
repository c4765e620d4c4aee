package commands

import (
	"context"

	"github.com/invitesvc/invitesvc/domain"
)

// EventStore is the source of truth.
type EventStore interface {
	// Load returns an aggregate's events in order and the position of the
	// last one (zero when it has none).
	Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error)
	// Append writes all events or none. expected holds, for the aggregate of
	// every event, the position the decision was based on; a mismatch is
	// domain.ErrConflict, a store that cannot be reached
	// domain.ErrUnavailable. Each event is chained to that position's hash.
	// It returns the sequence of the last event written. A single event whose
	// id is stored already is not written again: its sequence is returned.
	// The conformance suite in transport/eventstore/eventstoretest pins
	// these rules for every store.
	Append(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (uint64, error)
	// Fresh reports whether every aggregate still stands at the position
	// Load gave for it. A store may answer Load from a cache that only its
	// appends keep exact: a stale position there is a conflict, which the
	// command retries; a decision that writes nothing (a refusal, a
	// repeat) is checked with Fresh instead before it is answered.
	Fresh(ctx context.Context, loaded map[domain.StreamID]domain.Position) (bool, error)
}

// PersonalData holds the keys of the email addresses in events (see
// transport/keystore): commands seal the addresses of the events they
// append and open those of the events they load, and erase them.
type PersonalData interface {
	// EmailHMAC is the keyed identifier of a normalized address in an
	// organization, which names its slot and stands for it in events.
	EmailHMAC(ctx context.Context, organizationID, email string) (string, error)
	// Seal encrypts a decided payload's address under its generation's
	// data key; a generation erased meanwhile is domain.ErrConflict.
	Seal(ctx context.Context, p domain.Payload) (domain.Payload, error)
	// Open decrypts a loaded payload's address, or marks it erased; an
	// address in clear (revision 1) gets its keyed identifier.
	Open(ctx context.Context, p domain.Payload) (domain.Payload, error)
	// Shred deletes an address's data keys of generation and before, and
	// says whether any was left.
	Shred(ctx context.Context, organizationID, emailHMAC string, generation int) (bool, error)
}

// Projection is the read side, as far as commands need it.
type Projection interface {
	// WaitFor returns once the read models reflect every event up to seq,
	// so that a command's answer is visible to queries (read your writes),
	// or once a bound passes: the events are durable either way.
	WaitFor(ctx context.Context, seq uint64)
	// Ready reports whether the read store can be reached, so that a
	// command is refused before it writes rather than left unseen after.
	Ready(ctx context.Context) error
	// InvitationIDByToken resolves a token's SHA-256 to its invitation.
	InvitationIDByToken(ctx context.Context, tokenSHA256 string) (organizationID, invitationID string, found bool, err error)
}

// Observer hears how each command ended (written, unchanged, refused,
// conflict, unavailable, error) and after how many attempts, for metrics.
type Observer interface {
	CommandDone(command, outcome string, attempts int)
}
