package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/invitesvc/invitesvc/domain"
)

// Group commit: every atomic batch costs a one-replica file stream about the
// same (nats-server stages each in a file store of its own, newBatchStore in
// server/jetstream_batching.go), whatever its size, so the appends that
// arrive while a batch is in flight wait and go together in the next one.
// A lone append is sent at once; a loaded store sends few, large batches.
//
// Each append keeps its own expectations: its messages carry its own
// Nats-Expected-Last-Subject-Sequence headers, and two appends that touch
// the same aggregate (the same Filter) never share a batch, nor is one sent
// while the other is in flight. The server checks every expectation of a
// batch against the stream as it was before the batch, and caches its
// answer per filter, so two appends on one aggregate in one batch would
// both pass: that is why they may not share one. A refused batch writes
// nothing, and its refusal does not say which append failed, so a batch of
// several appends is split in halves and each half sent again, down to the
// append alone, whose answer is its own (see commit).

// BatchLimits bound the batches a store sends. The server's limits are not
// visible to a client (they are in its varz, on the system account), so
// they are configured; the defaults are nats-server's.
type BatchLimits struct {
	// Messages is the most messages in one batch: the server's
	// jetstream.limits.max_batch_size, 1000 unless configured
	// (streamDefaultMaxAtomicBatchSize in server/stream.go). A server that
	// refuses a batch as too large names its limit, and the store lowers
	// this to it.
	Messages int
	// InFlight is how many batches the store has open at once. The server
	// allows 50 a stream and 1000 in all (max_batch_inflight_per_stream,
	// max_batch_inflight_total; streamDefaultMaxAtomicBatchInflight* in
	// server/stream.go), shared by every writer; one is enough to keep a
	// one-replica stream busy, since it commits batches one at a time (see
	// docs/performance.md).
	InFlight int
}

// DefaultBatchLimits are nats-server's defaults and one batch in flight.
var DefaultBatchLimits = BatchLimits{Messages: 1000, InFlight: 1}

// BatchObserver hears the batches a store commits, for metrics.
type BatchObserver interface {
	// BatchCommitted is called once a batch is committed, with the number of
	// appends (commands) it held.
	BatchCommitted(appends int)
}

// WithBatchObserver has o hear every batch committed.
func WithBatchObserver(o BatchObserver) Option { return func(s *Store) { s.group.observer = o } }

// WithBatchLimits sets the bounds of the batches; zero fields keep the defaults.
func WithBatchLimits(l BatchLimits) Option {
	return func(s *Store) {
		if l.Messages > 0 {
			s.group.maxMessages = l.Messages
		}
		if l.InFlight > 0 {
			s.group.inFlight = l.InFlight
		}
	}
}

// pendingAppend is one Append waiting for its batch.
type pendingAppend struct {
	ctx  context.Context
	msgs []*nats.Msg
	// expected is the last sequence expected of each aggregate it writes,
	// by Filter; msgFilters the filter of each message.
	expected   map[string]uint64
	msgFilters []string
	bytes      int
	done       chan appendResult // buffered: the committer never waits
}

type appendResult struct {
	seq       uint64
	err       error
	appends   int  // in the batch that committed it
	duplicate bool // the server had stored its message id already: nothing moved
}

// groupCommit gathers appends into batches.
type groupCommit struct {
	nc       *nats.Conn
	observer BatchObserver
	inFlight int

	muxOnce sync.Once
	mux     *replyMux
	muxErr  error

	mu          sync.Mutex
	maxMessages int // lowered when the server names a lower limit
	queue       []*pendingAppend
	sending     int             // batches in flight
	busy        map[string]bool // filters of the appends in flight
	// written is the last sequence this store wrote of recent aggregates.
	written map[string]uint64
}

func newGroupCommit(nc *nats.Conn) *groupCommit {
	return &groupCommit{nc: nc, inFlight: DefaultBatchLimits.InFlight, maxMessages: DefaultBatchLimits.Messages, busy: map[string]bool{}, written: map[string]uint64{}}
}

// append queues p and waits for its batch to be committed or refused.
func (g *groupCommit) append(p *pendingAppend) appendResult {
	g.mu.Lock()
	g.queue = append(g.queue, p)
	g.dispatch()
	g.mu.Unlock()
	select {
	case r := <-p.done:
		return r
	case <-p.ctx.Done():
		// Withdrawn from the queue, it is not written; once in flight, its
		// outcome is unknown: unavailable either way, unless answered.
		g.mu.Lock()
		g.withdraw(p)
		g.mu.Unlock()
		select {
		case r := <-p.done:
			return r
		default:
			return appendResult{err: unavailable(p.ctx.Err())}
		}
	}
}

func (g *groupCommit) withdraw(p *pendingAppend) {
	for i, q := range g.queue {
		if q == p {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return
		}
	}
}

// dispatch sends batches of what is queued while fewer than inFlight are
// in flight. g.mu is held.
func (g *groupCommit) dispatch() {
	for g.sending < g.inFlight && len(g.queue) > 0 {
		batch := g.take()
		if len(batch) == 0 {
			return // every queued append waits for one in flight
		}
		g.sending++
		go g.commitAndNext(batch)
	}
}

// take removes the next batch from the queue: the appends in arrival order
// that touch no aggregate of another in it or in flight, up to the message
// bound and, beyond a first append, max_payload bytes. The server sets no
// bytes limit on a batch (only on each message); one max_payload keeps a
// shared batch no bigger than the largest single message the server takes.
// g.mu is held.
func (g *groupCommit) take() []*pendingAppend {
	var batch []*pendingAppend
	msgs, bytes, full := 0, 0, false
	maxBytes := int(g.nc.MaxPayload())
	rest := g.queue[:0]
	for _, p := range g.queue {
		if err := g.settled(p); err != nil {
			p.done <- appendResult{err: err}
			continue
		}
		switch {
		case full || g.touchesBusy(p):
		case len(batch) > 0 && (msgs+len(p.msgs) > g.maxMessages || bytes+p.bytes > maxBytes):
			full = true
		default:
			batch = append(batch, p)
			msgs, bytes = msgs+len(p.msgs), bytes+p.bytes
			for f := range p.expected {
				g.busy[f] = true
			}
			continue
		}
		rest = append(rest, p)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	return batch
}

func (g *groupCommit) touchesBusy(p *pendingAppend) bool {
	for f := range p.expected {
		if g.busy[f] {
			return true
		}
	}
	return false
}

func (g *groupCommit) commitAndNext(batch []*pendingAppend) {
	g.commit(batch)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range batch {
		for f := range p.expected {
			delete(g.busy, f)
		}
	}
	g.sending--
	g.dispatch()
}

// retryFor bounds how long a batch refused for reasons of the server's
// (too many batches in flight, a batch it could not finish) is sent again
// before its appends are answered unavailable.
const retryFor = requestTimeout

// commit sends batch and answers each of its appends. A refusal that one
// append may cause (a lost race, a repeated id, a batch too large) splits a
// batch of several in halves, each sent again, so that only the append at
// fault fails: nothing refused was written, so sending the same messages
// again cannot store them twice (and Nats-Msg-Id would refuse a batch
// holding one stored already). 10210 (too many batches in flight) and 10176
// (the batch is incomplete: the server lost or refused one of its
// messages, most often the first for 10210) also wrote nothing: the same
// batch is sent again, with growing pauses, for up to retryFor, then its
// appends are unavailable (503: the server cannot take writes now). A batch
// whose answer does not come is unavailable too: it may have been written,
// so it is never sent again.
func (g *groupCommit) commit(batch []*pendingAppend) {
	var msgs []*nats.Msg
	for _, p := range batch {
		msgs = append(msgs, p.msgs...)
	}
	pause, deadline := time.Millisecond, time.Now().Add(retryFor)
	for {
		ack, refused, err := g.publish(msgs)
		switch {
		case err == nil:
			g.committed(batch, ack)
			return
		case refused != nil && refused.retryable() && time.Now().Add(pause).Before(deadline):
			time.Sleep(pause)
			pause = min(2*pause, 50*time.Millisecond)
			continue
		case refused != nil && refused.splittable() && len(batch) > 1:
			if limit, ok := refused.batchLimit(); ok {
				g.mu.Lock()
				g.maxMessages = min(g.maxMessages, limit)
				g.mu.Unlock()
			}
			g.commit(batch[:len(batch)/2])
			g.commit(batch[len(batch)/2:])
			return
		}
		for _, p := range batch {
			p.done <- appendResult{err: err}
		}
		return
	}
}

// committed answers the appends of a batch the server acknowledged, each
// with the sequence of its own last message (the batch's messages are
// stored one after the other, the last at ack.Seq), and notes where it left
// the aggregates it wrote. A duplicate (a single event stored before, maybe
// on another aggregate) moved nothing.
func (g *groupCommit) committed(batch []*pendingAppend, ack pubAck) {
	if g.observer != nil {
		g.observer.BatchCommitted(len(batch))
	}
	seq := ack.Seq
	for _, p := range batch {
		seq -= uint64(len(p.msgs))
	}
	g.mu.Lock()
	if len(g.written) > maxWritten {
		clear(g.written)
	}
	for _, p := range batch {
		for _, f := range p.msgFilters {
			seq++
			if !ack.Duplicate {
				g.written[f] = seq
			}
		}
		p.done <- appendResult{seq: seq, appends: len(batch), duplicate: ack.Duplicate}
	}
	g.mu.Unlock()
}

// maxWritten bounds the aggregates whose last write the store remembers.
const maxWritten = 4096

// settled answers a queued append that needs no batch: one whose caller
// gave up, and one that expects an aggregate before where this store wrote
// it last, which can only lose (an aggregate's last sequence only grows)
// and would have its batch refused and split. g.mu is held.
func (g *groupCommit) settled(p *pendingAppend) error {
	if err := p.ctx.Err(); err != nil {
		return unavailable(err)
	}
	for f, want := range p.expected {
		if last, ok := g.written[f]; ok && want < last {
			return fmt.Errorf("%w: wrong last sequence: %d", domain.ErrConflict, last)
		}
	}
	return nil
}

func (g *groupCommit) replies() (*replyMux, error) {
	g.muxOnce.Do(func() { g.mux, g.muxErr = newReplyMux(g.nc) })
	return g.mux, g.muxErr
}

// publish sends msgs, one alone as a plain publish, several as one atomic
// batch, every message with a reply subject so that a refusal of any of
// them is heard. It returns the acknowledgement of the last message, or
// the refusal (nothing written), or another error (unknown outcome).
func (g *groupCommit) publish(msgs []*nats.Msg) (pubAck, *refusal, error) {
	var ack pubAck
	mux, err := g.replies()
	if err != nil {
		return ack, nil, unavailable(err)
	}
	inbox, replies, done := mux.openSized(len(msgs))
	defer done()
	// A message sent before in a batch since split is sent afresh.
	batch := nuid.Next()
	for i, m := range msgs {
		for _, h := range batchHeaders {
			m.Header.Del(h)
		}
		if len(msgs) > 1 {
			m.Header.Set("Nats-Batch-Id", batch)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		}
	}
	if len(msgs) > 1 {
		msgs[len(msgs)-1].Header.Set("Nats-Batch-Commit", "1")
	}
	for _, m := range msgs {
		m.Reply = inbox
		if err := g.nc.PublishMsg(m); err != nil {
			return ack, nil, unavailable(err)
		}
	}
	// Each message is answered once: an empty reply when staged, then the
	// commit's acknowledgement, or an error for each refused one (10176 for
	// every message after a refused first). Any refusal means the batch
	// was not written.
	timeout := time.NewTimer(requestTimeout)
	defer timeout.Stop()
	var refused *refusal
	for range msgs {
		select {
		case msg := <-replies:
			if len(msg.Data) == 0 {
				continue
			}
			a, r, err := parseReply(msg.Data)
			switch {
			case err != nil:
				return ack, nil, err
			case r != nil && (refused == nil || refused.Code == errAtomicIncomplete):
				refused = r
			case r == nil:
				ack = a
			}
		case <-timeout.C:
			if refused != nil {
				return ack, refused, refused.err()
			}
			return ack, nil, unavailable(errors.New("publish: no acknowledgement within " + requestTimeout.String()))
		}
	}
	switch {
	case refused != nil:
		return ack, refused, refused.err()
	case ack.Seq < uint64(len(msgs)):
		return ack, nil, unavailable(fmt.Errorf("publish ack at sequence %d for %d messages", ack.Seq, len(msgs)))
	case len(msgs) > 1 && ack.Count != len(msgs):
		return ack, nil, unavailable(fmt.Errorf("publish ack counts %d messages in a batch of %d", ack.Count, len(msgs)))
	}
	return ack, nil, nil
}

var batchHeaders = []string{"Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"}

// Errors of atomic batches: both say the server wrote nothing and may take
// the same batch later.
const (
	errAtomicIncomplete      = 10176
	errAtomicTooManyInflight = 10210
)

func (r *refusal) retryable() bool {
	return r.Code == errAtomicIncomplete || r.Code == errAtomicTooManyInflight
}

// splittable reports whether one append of a batch may be the cause.
func (r *refusal) splittable() bool {
	switch r.Code {
	case errWrongLastSequence, errWrongLastSequenceConstant, errDuplicateInProcess,
		errMessageTooLarge, errHeaderTooLarge, errAtomicBatchTooLarge, errAtomicDuplicateMessage:
		return true
	}
	return false
}

// batchLimit reads the server's limit from "atomic publish batch is too
// large: {size}".
func (r *refusal) batchLimit() (int, bool) {
	if r.Code != errAtomicBatchTooLarge {
		return 0, false
	}
	_, size, _ := strings.Cut(r.Description, ": ")
	n, err := strconv.Atoi(size)
	return n, err == nil && n > 0
}

type pubAck struct {
	Seq       uint64 `json:"seq"`
	Count     int    `json:"count"`
	Duplicate bool   `json:"duplicate"`
	Error     *struct {
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

func parseReply(data []byte) (pubAck, *refusal, error) {
	var ack pubAck
	if err := json.Unmarshal(data, &ack); err != nil {
		return ack, nil, unavailable(fmt.Errorf("publish ack: %w", err))
	}
	if ack.Error != nil {
		return ack, &refusal{Code: ack.Error.ErrCode, Description: ack.Error.Description}, nil
	}
	return ack, nil, nil
}
