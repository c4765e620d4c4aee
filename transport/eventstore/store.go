package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
)

var tracer = otel.Tracer("github.com/invitesvc/invitesvc/transport/eventstore")

// StreamConfig is the INVITATIONS stream: append-only, every event kept.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               StreamName,
		Description:        "Invitations service events: the source of truth and the audit log",
		Subjects:           StreamSubjects,
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardNew,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		Duplicates:         5 * time.Minute,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		Replicas:           replicas,
	}
}

// EnsureStream creates the stream, or updates it to the wanted settings.
// A cluster may leave a request unanswered (two clients creating the stream
// at once, a stream still electing its leader), so each attempt is bounded
// and an unanswered one retried until ctx ends; any other error is final.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	return Ensure(ctx, js, StreamConfig(replicas))
}

// Ensure creates the stream cfg describes, or updates it to cfg, as
// EnsureStream does INVITATIONS (the key bucket's stream too), retrying a
// timeout while a cluster elects its leader.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	_, err := EnsureStreamConfig(ctx, js, cfg)
	return err
}

// EnsureStreamConfig is Ensure, answering the stream. A stream that
// already has cfg is left alone: the server takes a create of an equal
// configuration as a no-op, and only a different one is sent as an update.
// Updating it on every start raced, inside nats-server, with another
// replica creating a consumer on it (a data race the race detector saw in
// fileStore.UpdateConfig against ConsumerStore).
func EnsureStreamConfig(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := js.CreateStream(attempt, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.UpdateStream(attempt, cfg)
		}
		cancel()
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) || ctx.Err() != nil {
			return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
}

// Keys sign the events a store appends and verify the events it reads, so
// that a command never decides on an event the service did not write.
type Keys struct {
	Signer  *signing.Signer
	Keyring *signing.Keyring
}

// Store is the event store on one NATS connection.
type Store struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	keys  Keys
	group *groupCommit
	cache *aggregateCache

	repliesOnce sync.Once
	replies     *replyMux
	repliesErr  error
}

// Option configures a Store.
type Option func(*Store)

// New returns a store on nc signing and verifying with keys, keeping
// DefaultCacheSize aggregates in memory unless an option says otherwise;
// the stream must exist (see EnsureStream).
func New(nc *nats.Conn, keys Keys, opts ...Option) (*Store, error) {
	if keys.Signer == nil || keys.Keyring == nil {
		return nil, errors.New("event store: a signer and a keyring are required")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := &Store{nc: nc, js: js, keys: keys, group: newGroupCommit(nc), cache: newAggregateCache(DefaultCacheSize)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// JetStream gives the JetStream context, for consumers and stream info.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Load reads one aggregate's events: from the cache, or from the stream
// by the server's per-subject index (see load.go), never by a scan. The
// events are shared with the cache: read them, change nothing.
func (s *Store) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	if events, pos, ok := s.cache.get(id); ok {
		return events, pos, nil
	}
	mark := s.cache.loadBegins(id)
	events, err := s.loadStream(ctx, id)
	if err != nil {
		return nil, domain.Position{}, err
	}
	last := positionOf(events)
	s.cache.put(id, events, last, mark)
	return events, last, nil
}

// positionOf is where an aggregate of these events stands.
func positionOf(events []domain.Recorded) domain.Position {
	if len(events) == 0 {
		return domain.Position{}
	}
	e := events[len(events)-1]
	return domain.Position{Seq: e.Sequence, SHA256: e.SHA256}
}

// History reads what the audit shows, always from the stream, past the
// cache: another replica's writes are in it at once.
type History struct{ s *Store }

// History is s's reads for the audit.
func (s *Store) History() History { return History{s} }

// Load reads one aggregate's events from the stream (see Store.Load).
func (h History) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	events, err := h.s.loadStream(ctx, id)
	if err != nil {
		return nil, domain.Position{}, err
	}
	return events, positionOf(events), nil
}

// OrganizationEvents is Store.OrganizationEvents.
func (h History) OrganizationEvents(ctx context.Context, organizationID string) ([]domain.Recorded, error) {
	return h.s.OrganizationEvents(ctx, organizationID)
}

const directBatch = 256

// requestTimeout bounds each request to JetStream, so that a command facing
// an unreachable NATS answers 503 within it.
const requestTimeout = 2 * time.Second

// scan calls fn for every message matching filter from sequence start on,
// in batches of direct gets. A literal filter is found through the
// server's index; a wildcard one steps through every block from the first
// match on (see load.go): only the audit feed does that.
func (s *Store) scan(ctx context.Context, filter string, start uint64, fn func(domain.Recorded) error) error {
	for {
		var last uint64
		pending, err := s.directGet(ctx, directGetRequest{Seq: start, NextBySubj: filter, Batch: directBatch}, func(m *nats.Msg) error {
			rec, err := decodeStored(m, s.keys.Keyring)
			if err != nil {
				return err
			}
			last = rec.Sequence
			return fn(rec)
		})
		if err != nil || pending == 0 || last == 0 {
			return err
		}
		start = last + 1
	}
}

// OrganizationEvents reads every event of an organization's audit feed
// (the organization, its invitations and memberships), oldest first.
func (s *Store) OrganizationEvents(ctx context.Context, organizationID string) ([]domain.Recorded, error) {
	return s.scanAll(ctx, OrganizationFilters(organizationID))
}

// decodeStored decodes a direct get's message once its signature verifies.
func decodeStored(msg *nats.Msg, keyring *signing.Keyring) (domain.Recorded, error) {
	seq, err := strconv.ParseUint(msg.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return domain.Recorded{}, fmt.Errorf("stored message without sequence: %w", err)
	}
	subject := msg.Header.Get(jetstream.SubjectHeader)
	if err := verifyStored(keyring, seq, subject, msg.Data, msg.Header.Get(signing.KeyIDHeader), signing.DecodeSignature(msg.Header.Get(signing.SignatureHeader))); err != nil {
		return domain.Recorded{}, err
	}
	e, err := domain.UnmarshalCloudEvent(msg.Data)
	if err != nil {
		return domain.Recorded{}, fmt.Errorf("event %d on %s: %w", seq, subject, err)
	}
	return domain.Recorded{Event: e, Sequence: seq, Subject: subject, SHA256: domain.SHA256(string(msg.Data))}, nil
}

// Append publishes the events as one atomic batch (a single event as a plain
// publish), each with the expected last sequence of its aggregate. Appends
// that arrive while a batch is in flight share the next one (see
// groupcommit.go); each is answered with the sequence of its own last event.
func (s *Store) Append(ctx context.Context, events []domain.Event, expected map[domain.StreamID]domain.Position) (_ uint64, err error) {
	if len(events) == 0 {
		return 0, errors.New("append: no events")
	}
	ctx, span := tracer.Start(ctx, "jetstream append", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("events", len(events)), attribute.String("event.type", events[0].Type)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	p := &pendingAppend{ctx: ctx, msgs: make([]*nats.Msg, len(events)), expected: map[string]uint64{},
		msgFilters: make([]string, len(events)), done: make(chan appendResult, 1)}
	maxPayload := int(s.nc.MaxPayload())
	for i, e := range events {
		id := domain.StreamOf(e.Data)
		pos, ok := expected[id]
		if !ok {
			return 0, fmt.Errorf("append %s: no expected position for its aggregate", e.Type)
		}
		m, err := guardedMsg(s.keys.Signer, e, pos.SHA256, id, pos.Seq)
		if err != nil {
			return 0, err
		}
		// The projection continues the trace from these headers.
		otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(m.Header))
		// What the server counts against max_payload, with the batch headers to come.
		size := m.Size() - len(m.Subject) + batchHeaderBytes
		if size > maxPayload {
			return 0, fmt.Errorf("append %s: %d bytes, over the server's max_payload of %d", e.Type, size, maxPayload)
		}
		p.msgs[i], p.msgFilters[i] = m, Filter(id)
		p.expected[Filter(id)] = pos.Seq
		p.bytes += size
	}
	r := s.group.append(p)
	s.cache.appended(expected, p.msgs, r.seq, r.duplicate, r.err)
	span.SetAttributes(attribute.Int("batch.appends", r.appends))
	return r.seq, r.err
}

// batchHeaderBytes bounds the headers an atomic batch adds to a message
// (Nats-Batch-Id, -Sequence, -Commit).
const batchHeaderBytes = 96

// verifyStored refuses the event at seq unless keyring verifies it: one the
// service did not write makes the store unavailable rather than decided on.
func verifyStored(keyring *signing.Keyring, seq uint64, subject string, data []byte, keyID string, sig []byte) error {
	if err := keyring.Verify(subject, data, keyID, sig); err != nil {
		return unavailable(fmt.Errorf("event %d on %s: %w", seq, subject, err))
	}
	return nil
}

// SignedMsg is data for subject signed by signer, its signature in the
// headers Load verifies.
func SignedMsg(signer *signing.Signer, subject string, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	keyID, sig := signer.Sign(subject, data)
	m.Header.Set(signing.KeyIDHeader, keyID)
	m.Header.Set(signing.SignatureHeader, signing.EncodeSignature(sig))
	return m
}

// guardedMsg encodes e, chained to prev and signed, to be stored only if the
// last event of aggregate guard is at sequence seq.
func guardedMsg(signer *signing.Signer, e domain.Event, prev string, guard domain.StreamID, seq uint64) (*nats.Msg, error) {
	e.PrevSHA256 = prev
	body, err := domain.MarshalCloudEvent(e)
	if err != nil {
		return nil, err
	}
	m := SignedMsg(signer, Subject(e), body)
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	m.Header.Set(jetstream.ExpectedStreamHeader, StreamName)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, Filter(guard))
	return m, nil
}

// JetStream error codes that mean a lost optimistic-concurrency race.
const (
	errWrongLastSequence         = 10071
	errWrongLastSequenceConstant = 10164
)

// JetStream error codes that mean the append itself is wrong: a bug here,
// not the server's state. Every other error code (storage or account
// resources exhausted, JetStream disabled, the stream gone, and once
// retried, too many batches in flight or a batch the server could not
// finish) says the server cannot write now: nothing was written, and a
// retry is the remedy.
const (
	errMessageTooLarge        = 10054
	errHeaderTooLarge         = 10097
	errAtomicInvalidBatchID   = 10179
	errAtomicBatchTooLarge    = 10199
	errAtomicInvalidCommit    = 10200
	errAtomicDuplicateMessage = 10201
)

// errDuplicateInProcess is a message id the server is storing already.
const errDuplicateInProcess = 10158

// refusal is a publish the server refused: nothing of it was written.
type refusal struct {
	Code        int
	Description string
}

func (r *refusal) err() error {
	switch r.Code {
	case errWrongLastSequence, errWrongLastSequenceConstant:
		return fmt.Errorf("%w: %s", domain.ErrConflict, r.Description)
	case errMessageTooLarge, errHeaderTooLarge, errAtomicInvalidBatchID, errAtomicBatchTooLarge, errAtomicInvalidCommit, errAtomicDuplicateMessage:
		return fmt.Errorf("publish: %s (%d)", r.Description, r.Code)
	}
	return unavailable(fmt.Errorf("publish: %s (%d)", r.Description, r.Code))
}

// LastSequence is the stream's last sequence.
func (s *Store) LastSequence(ctx context.Context) (uint64, error) {
	stream, err := s.js.Stream(ctx, StreamName)
	if err != nil {
		return 0, unavailable(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, unavailable(err)
	}
	return info.State.LastSeq, nil
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
}
