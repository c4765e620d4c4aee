package eventstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/invitesvc/invitesvc/domain"
)

// Memory is an event store in memory with the guarantees of Store: an
// expected position per aggregate, all-or-nothing appends, dedupe by event
// id and the hash chain, over the same subjects and CloudEvent bytes. It
// keeps message ids for good rather than for JetStream's duplicate window,
// a difference no caller that draws fresh ids can see. It is safe for
// concurrent use.
type Memory struct {
	keys        Keys
	mu          sync.Mutex
	log         []signed            // log[i] is at sequence i+1
	byAggregate map[string][]uint64 // aggregate filter -> its sequences
	seqByID     map[string]uint64   // event id -> sequence it was stored at
}

// signed is a stored event with what its signature covers.
type signed struct {
	domain.Recorded
	data  []byte
	keyID string
	sig   []byte
}

// NewMemory returns an empty store signing and verifying with keys, as New.
func NewMemory(keys Keys) *Memory {
	return &Memory{keys: keys, byAggregate: map[string][]uint64{}, seqByID: map[string]uint64{}}
}

// errBatchDuplicate is how JetStream refuses an atomic batch holding an id
// it has stored already, or the same id twice: whole, whatever the
// expectations say.
var errBatchDuplicate = errors.New("publish: atomic publish batch contains duplicate message id")

// Load returns one aggregate's events.
func (m *Memory) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	if err := ctx.Err(); err != nil {
		return nil, domain.Position{}, unavailable(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seqs := m.byAggregate[Filter(id)]
	events := make([]domain.Recorded, len(seqs))
	for i, seq := range seqs {
		s := m.log[seq-1]
		if err := verifyStored(m.keys.Keyring, seq, s.Subject, s.data, s.keyID, s.sig); err != nil {
			return nil, domain.Position{}, err
		}
		events[i] = s.Recorded
	}
	return events, m.position(Filter(id)), nil
}

// Fresh reports whether every aggregate still stands at the position given.
func (m *Memory) Fresh(ctx context.Context, loaded map[domain.StreamID]domain.Position) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, unavailable(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, pos := range loaded {
		if m.position(Filter(id)).Seq != pos.Seq {
			return false, nil
		}
	}
	return true, nil
}

// position is where the aggregate with this filter stands.
func (m *Memory) position(filter string) domain.Position {
	seqs := m.byAggregate[filter]
	if len(seqs) == 0 {
		return domain.Position{}
	}
	last := m.log[seqs[len(seqs)-1]-1]
	return domain.Position{Seq: last.Sequence, SHA256: last.SHA256}
}

// Append stores the events if every aggregate stands where expected, as
// Store.Append does. Like JetStream it checks every expectation against the
// store before the batch, and answers a repeated single event with the
// sequence it was stored at once its expectation holds.
func (m *Memory) Append(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (uint64, error) {
	if len(events) == 0 {
		return 0, errors.New("append: no events")
	}
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	stored := make([]signed, len(events))
	filters := make([]string, len(events))
	for i, e := range events {
		id := domain.StreamOf(e.Data)
		pos, ok := expected[id]
		if !ok {
			return 0, fmt.Errorf("append %s: no expected position for its aggregate", e.Type)
		}
		e.PrevSHA256 = pos.SHA256
		body, err := domain.MarshalCloudEvent(e)
		if err != nil {
			return 0, err
		}
		// Read back what was written, as Load from JetStream would.
		back, err := domain.UnmarshalCloudEvent(body)
		if err != nil {
			return 0, err
		}
		keyID, sig := m.keys.Signer.Sign(Subject(e), body)
		stored[i] = signed{Recorded: domain.Recorded{Event: back, Subject: Subject(e), SHA256: domain.SHA256(string(body))}, data: body, keyID: keyID, sig: sig}
		filters[i] = Filter(id)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if len(events) > 1 {
		ids := map[string]bool{}
		for _, e := range events {
			if _, seen := m.seqByID[e.ID]; seen || ids[e.ID] {
				return 0, errBatchDuplicate
			}
			ids[e.ID] = true
		}
	}
	for i, e := range events {
		want := expected[domain.StreamOf(e.Data)].Seq
		if last := m.position(filters[i]).Seq; last != want {
			return 0, fmt.Errorf("%w: wrong last sequence: %d", domain.ErrConflict, last)
		}
	}
	if seq, seen := m.seqByID[events[0].ID]; seen && len(events) == 1 {
		return seq, nil
	}
	for i, r := range stored {
		r.Sequence = uint64(len(m.log)) + 1
		m.log = append(m.log, r)
		m.byAggregate[filters[i]] = append(m.byAggregate[filters[i]], r.Sequence)
		m.seqByID[r.ID] = r.Sequence
	}
	return uint64(len(m.log)), nil
}

// OrganizationEvents returns every event of an organization's audit feed,
// oldest first: those on the subjects OrganizationFilters names.
func (m *Memory) OrganizationEvents(ctx context.Context, organizationID string) ([]domain.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	filters := OrganizationFilters(organizationID)
	m.mu.Lock()
	defer m.mu.Unlock()
	var events []domain.Recorded
	for _, r := range m.log {
		if slices.ContainsFunc(filters, func(f string) bool { return server.SubjectMatchesFilter(r.Subject, f) }) {
			if err := verifyStored(m.keys.Keyring, r.Sequence, r.Subject, r.data, r.keyID, r.sig); err != nil {
				return nil, err
			}
			events = append(events, r.Recorded)
		}
	}
	return events, nil
}

// LastSequence is the sequence of the last event stored, 0 when empty.
func (m *Memory) LastSequence(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.log)), nil
}
