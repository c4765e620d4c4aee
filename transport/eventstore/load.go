package eventstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
)

// How an aggregate is read without scanning the stream.
//
// nats-server's file store keeps an index of every subject (psim: its count
// and the first and last message blocks holding it) and, per block, the
// first and last sequence of each subject in it. A direct get of
// next_by_subj with a wildcard filter (invitations.acme.<id>.*) finds the
// aggregate's first event through that index, but from there
// fileStore.LoadNextMsg steps block by block (msgBlock.firstMatching, each
// block loaded from disk if it is not in memory) and never skips ahead once
// the stream holds 64 Ki subjects or more (wcMaxSizeToCheck in
// server/filestore.go): every load walks every block from the aggregate's
// first event to the end of the stream. On 300,000 events that is 5 ms of
// CPU for an organization registered early, against 20 µs for an aggregate
// that has no event at all (the index answers that alone).
//
// multi_last asks for the last event of each subject matching the filter:
// the server takes the subjects from the index and reads each one's last
// block only (fileStore.MultiLastMsgs). An aggregate's subjects are its
// event types (.created, .accepted, ...), so that is all of its events but
// the earlier ones of a subject that repeats (.resent, .reserved, ...).
// Those are found by sequence: each event was stored with
// Nats-Expected-Last-Subject-Sequence, the sequence of its aggregate's
// previous event, which the server checked against the stream when it
// stored it, so following those back from the last event reaches every
// event of the aggregate, each by a direct get of its sequence. A history
// without those headers (written by another tool, or copied by a stream
// source, which drops them) is read subject by subject, each a literal
// next_by_subj, which the server skips through by its index too.

const directGetSubject = "$JS.API.DIRECT.GET." + StreamName

// directGetRequest is the body of a direct get (JSApiMsgGetRequest in
// nats-server).
type directGetRequest struct {
	Seq        uint64   `json:"seq,omitempty"`
	NextBySubj string   `json:"next_by_subj,omitempty"`
	MultiLast  []string `json:"multi_last,omitempty"`
	Batch      int      `json:"batch,omitempty"`
}

// directGet sends one direct get answered by a batch (Batch or MultiLast
// set) and hands each message of the answer to fn, in order. pending is
// how many more match than the server sent.
func (s *Store) directGet(ctx context.Context, req directGetRequest, fn func(*nats.Msg) error) (pending uint64, err error) {
	s.repliesOnce.Do(func() { s.replies, s.repliesErr = newReplyMux(s.nc) })
	if s.repliesErr != nil {
		return 0, unavailable(s.repliesErr)
	}
	inbox, replies, done := s.replies.open()
	defer done()
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	if err := s.nc.PublishRequest(directGetSubject, inbox, body); err != nil {
		return 0, unavailable(err)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	for {
		var msg *nats.Msg
		select {
		case msg = <-replies:
		case <-ctx.Done():
			return 0, unavailable(ctx.Err())
		}
		switch msg.Header.Get("Status") {
		case "":
			if err := fn(msg); err != nil {
				return 0, err
			}
		case "404":
			return 0, nil
		case "204":
			pending, _ := strconv.ParseUint(msg.Header.Get("Nats-Num-Pending"), 10, 64)
			return pending, nil
		default:
			return 0, unavailable(fmt.Errorf("direct get: %s %s", msg.Header.Get("Status"), msg.Header.Get("Description")))
		}
	}
}

// linked is a stored event with the sequence of its aggregate's previous
// event, as the server checked it when it stored the event.
type linked struct {
	domain.Recorded
	prev   uint64
	linked bool // false: the event does not say which came before it
}

// readLinked decodes a direct get's message of aggregate id.
func (s *Store) readLinked(msg *nats.Msg, id domain.StreamID) (linked, error) {
	rec, err := decodeStored(msg, s.keys.Keyring)
	if err != nil {
		return linked{}, err
	}
	l := linked{Recorded: rec}
	if msg.Header.Get(jetstream.ExpectedLastSubjSeqSubjHeader) == Filter(id) {
		l.prev, err = strconv.ParseUint(msg.Header.Get(jetstream.ExpectedLastSubjSeqHeader), 10, 64)
		l.linked = err == nil
	}
	return l, nil
}

// loadStream reads aggregate id's events from the stream (see above).
func (s *Store) loadStream(ctx context.Context, id domain.StreamID) ([]domain.Recorded, error) {
	lasts := map[uint64]linked{}
	pending, err := s.directGet(ctx, directGetRequest{MultiLast: []string{Filter(id)}}, func(m *nats.Msg) error {
		l, err := s.readLinked(m, id)
		lasts[l.Sequence] = l
		return err
	})
	if err != nil {
		return nil, err
	}
	if pending > 0 {
		return nil, unavailable(fmt.Errorf("aggregate %s: %d subjects left unread", Filter(id), pending))
	}
	if len(lasts) == 0 {
		return nil, nil
	}
	events, ok, err := s.walkBack(ctx, id, lasts)
	if err != nil || ok {
		return events, err
	}
	return s.loadSubjects(ctx, lasts)
}

// walkBack follows the events' links from the last one back to the first,
// reading by sequence those lasts does not hold. ok is false when the
// links do not account for the aggregate: an event without one, or one
// that leads elsewhere or past an event of lasts.
func (s *Store) walkBack(ctx context.Context, id domain.StreamID, lasts map[uint64]linked) (_ []domain.Recorded, ok bool, err error) {
	cur := lasts[slices.Max(slices.Collect(maps.Keys(lasts)))]
	chain := []domain.Recorded{cur.Recorded}
	seen := 1
	prefix := aggregateSubject(id) + "."
	for cur.linked && cur.prev > 0 {
		if cur.prev >= cur.Sequence {
			return nil, false, nil
		}
		next, known := lasts[cur.prev]
		if known {
			seen++
		} else {
			if next, err = s.readAt(ctx, id, cur.prev); err != nil {
				return nil, false, err
			}
			if next.Sequence != cur.prev || !strings.HasPrefix(next.Subject, prefix) || strings.Contains(next.Subject[len(prefix):], ".") {
				return nil, false, nil
			}
		}
		chain = append(chain, next.Recorded)
		cur = next
	}
	if !cur.linked || seen != len(lasts) {
		return nil, false, nil
	}
	slices.Reverse(chain)
	return chain, true, nil
}

// readAt reads the event at seq (or the first after it, were it gone).
func (s *Store) readAt(ctx context.Context, id domain.StreamID, seq uint64) (l linked, err error) {
	_, err = s.directGet(ctx, directGetRequest{Seq: seq, Batch: 1}, func(m *nats.Msg) error {
		var err error
		l, err = s.readLinked(m, id)
		return err
	})
	return l, err
}

// loadSubjects reads every event of the subjects of lasts, each subject
// by a literal next_by_subj.
func (s *Store) loadSubjects(ctx context.Context, lasts map[uint64]linked) ([]domain.Recorded, error) {
	subjects := map[string]bool{}
	for _, l := range lasts {
		subjects[l.Subject] = true
	}
	return s.scanAll(ctx, slices.Collect(maps.Keys(subjects)))
}

// scanAll reads every event matching any of filters, in stream order.
func (s *Store) scanAll(ctx context.Context, filters []string) ([]domain.Recorded, error) {
	var events []domain.Recorded
	for _, filter := range filters {
		err := s.scan(ctx, filter, 1, func(r domain.Recorded) error {
			events = append(events, r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(events, func(a, b domain.Recorded) int { return cmp.Compare(a.Sequence, b.Sequence) })
	return events, nil
}

// lastSequences asks the server where the aggregates of filters stand: the
// last sequence of each filter that matches an event. It reads the index
// and each subject's last message (multi_last), decoding nothing.
func (s *Store) lastSequences(ctx context.Context, filters []string) (map[string]uint64, error) {
	last := map[string]uint64{}
	for chunk := range slices.Chunk(filters, filtersPerMultiLast) {
		req := directGetRequest{MultiLast: chunk, Batch: directBatch}
		for {
			var read uint64
			pending, err := s.directGet(ctx, req, func(m *nats.Msg) error {
				seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
				if err != nil {
					return unavailable(fmt.Errorf("direct get without sequence: %w", err))
				}
				subject := m.Header.Get(jetstream.SubjectHeader)
				f := subject[:strings.LastIndexByte(subject, '.')+1] + "*"
				last[f] = max(last[f], seq)
				read = seq
				return nil
			})
			if err != nil {
				return nil, err
			}
			if pending == 0 || read == 0 {
				break
			}
			// The rest, in sequence order as the server sends them.
			req.Seq = read + 1
		}
	}
	return last, nil
}

// filtersPerMultiLast bounds the aggregates of one multi_last request: the
// server answers one of more than 1,024 subjects with 413 (maxAllowedResponses
// in server/stream.go), and an aggregate has at most 5 (its event types).
const filtersPerMultiLast = 200
