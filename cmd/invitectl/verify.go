package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

func verifyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newNATSFlags("verify [flags]", stderr)
	rf := addRedisFlags(fs)
	verifyKeys := fs.String("verify-keys", "", "comma-separated PEM files of the service's public signing keys: check every event's signature")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	var keyring *signing.Keyring
	if *verifyKeys != "" {
		var err error
		if keyring, err = signing.LoadKeyring(strings.Split(*verifyKeys, ",")...); err != nil {
			return err
		}
	}
	defer fastGC()()
	r, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.close()
	out := &problems{w: stdout}
	var sc *storeCheck
	if rf.url != "" {
		personal, err := r.opener()
		if err != nil {
			return fmt.Errorf("comparing the read models with a replay: %w", err)
		}
		client, err := rf.open(ctx)
		if err != nil {
			return err
		}
		defer client.Close()
		if err := rf.requireReadModels(ctx, client); err != nil {
			return err
		}
		if sc, err = newStoreCheck(ctx, client, rf.prefix, personal, out); err != nil {
			return err
		}
	}

	start := time.Now()
	last := r.stream.CachedInfo().State.LastSeq
	chains := &logCheck{report: out.add, next: 1, chains: map[string]*link{}}
	feed := func(*decoded) error { return nil }
	if sc != nil {
		sc.replay.start(ctx)
		feed = sc.feed
	}
	err = r.readDecoded(ctx, query{toSeq: last}, func(d *decoded) error {
		if keyring != nil {
			if err := keyring.Verify(d.subject, d.data, d.keyID, signing.DecodeSignature(d.signature)); err != nil {
				chains.problem(d, "%v", err)
			}
		}
		chains.check(d)
		return feed(d)
	})
	if sc != nil {
		err = errors.Join(err, sc.replay.finish())
	}
	if err != nil {
		return err
	}
	chains.finish(last)
	took := time.Since(start)
	fmt.Fprintf(stderr, "verify: %s events of %s aggregates read in %s (%s events/s)\n", thousands(last),
		thousands(uint64(len(chains.chains))), took.Round(time.Millisecond), thousands(uint64(float64(last)/max(took.Seconds(), 1e-9))))

	if sc != nil {
		if err := sc.run(ctx, r); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "verify: read store generation %d compared at checkpoint %d: %s records and lists in %s\n",
			sc.gen, sc.replay.at, thousands(uint64(sc.compared)), time.Since(start.Add(took)).Round(time.Millisecond))
	}
	if keyring == nil {
		fmt.Fprintln(stderr, "verify: signatures were not checked (no --verify-keys)")
	}
	if out.n > 0 {
		return fmt.Errorf("%d problems found", out.n)
	}
	fmt.Fprintln(stderr, "verify: no problems found")
	return nil
}

// problems prints each problem found, one a line.
type problems struct {
	w io.Writer
	n int
}

func (p *problems) add(problem string) {
	p.n++
	fmt.Fprintln(p.w, problem)
}

// decoded is a message with what verify needs to know of it.
type decoded struct {
	message
	sum   [32]byte // SHA-256 of the stored bytes, which the next event of the aggregate names
	event domain.Event
	err   error  // why it does not decode
	prev  string // the prevsha256 of an event that does not decode, if its envelope does
}

func (d *decoded) decode() {
	d.sum = sha256.Sum256(d.data)
	if d.event, d.err = domain.UnmarshalCloudEvent(d.data); d.err != nil {
		var envelope struct {
			PrevSHA256 string `json:"prevsha256"`
		}
		_ = json.Unmarshal(d.data, &envelope)
		d.prev = envelope.PrevSHA256
	} else {
		d.prev = d.event.PrevSHA256
	}
}

// decodeBatch is how many messages a decoding worker takes at once: enough
// to make the hand-over cheap next to the decoding.
const decodeBatch = 256

// readDecoded is readRaw with the decoding and hashing of the messages spread
// over every core, which JSON decoding needs to keep up with the stream; fn
// still sees the messages one at a time, in stream order.
func (r *reader) readDecoded(ctx context.Context, q query, fn func(*decoded) error) error {
	type batch struct {
		items []decoded
		done  chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	work, ordered := make(chan *batch, workers), make(chan *batch, 2*workers)
	var decoders sync.WaitGroup
	for range workers {
		decoders.Go(func() {
			for b := range work {
				for i := range b.items {
					b.items[i].decode()
				}
				close(b.done)
			}
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	consumed := make(chan error, 1)
	go func() {
		var err error
		for b := range ordered {
			<-b.done
			for i := 0; i < len(b.items) && err == nil; i++ {
				if err = fn(&b.items[i]); err != nil {
					cancel() // stops the read; the batches in flight are drained
				}
			}
		}
		consumed <- err
	}()
	cur := &batch{done: make(chan struct{})}
	send := func() {
		work <- cur
		ordered <- cur
		cur = &batch{done: make(chan struct{})}
	}
	err := r.readRaw(ctx, q, func(m message) error {
		if cur.items = append(cur.items, decoded{message: m}); len(cur.items) == decodeBatch {
			send()
		}
		return nil
	})
	if len(cur.items) > 0 {
		send()
	}
	close(work)
	close(ordered)
	decoders.Wait()
	if fnErr := <-consumed; fnErr != nil {
		return fnErr // err is then only the cancellation
	}
	return err
}

// logCheck checks the stream's messages in order: that none is missing,
// that each decodes and sits on the subject its content belongs on, and that
// each aggregate's events form one unbroken chain from its opening event.
type logCheck struct {
	report func(string)
	next   uint64 // the sequence expected next
	chains map[string]*link
}

// link is the end of one aggregate's chain.
type link struct {
	sum   [32]byte // of its last event's stored bytes
	last  uint64   // that event's sequence
	first uint64   // the sequence of the aggregate's first event
}

// openings is the event each kind of aggregate starts with, and whether it
// may come again (a membership is added again after a removal; a guard is
// recorded again each time).
var openings = map[domain.StreamKind]struct {
	eventType string
	repeats   bool
}{
	domain.KindOrganization: {domain.TypeOrganizationRegistered, false},
	domain.KindInvitation:   {domain.TypeInvitationCreated, false},
	domain.KindMembership:   {domain.TypeMembershipAdded, true},
	domain.KindEmailSlot:    {domain.TypeEmailReserved, true},
	domain.KindIdempotency:  {domain.TypeIdempotencyRecorded, true},
	domain.KindWebhook:      {domain.TypeWebhookCreated, false},
}

// aggregateOf is a subject without its last token (the verb): the subject
// prefix of one aggregate's events.
func aggregateOf(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[:i]
	}
	return subject
}

func (c *logCheck) check(d *decoded) {
	if d.seq > c.next {
		c.missing(c.next, d.seq-1)
	}
	c.next = d.seq + 1
	if d.err != nil {
		c.problem(d, "does not decode: %v", d.err)
	} else if want := eventstore.Subject(d.event); want != d.subject {
		c.problem(d, "a %s that belongs on %s", d.event.Type, want)
	}

	aggregate := aggregateOf(d.subject)
	l := c.chains[aggregate]
	switch {
	case l == nil && d.prev != "":
		c.problem(d, "first event of %s, yet its prevsha256 names a previous one (%s)", aggregate, short(d.prev))
	case l != nil && d.prev == "":
		c.problem(d, "no prevsha256, yet event %d came before it in %s", l.last, aggregate)
	case l != nil && !chainsTo(d.prev, l.sum):
		c.problem(d, "prevsha256 %s is not the SHA-256 of event %d, the previous one of %s (%s): the chain is broken",
			short(d.prev), l.last, aggregate, short(hex.EncodeToString(l.sum[:])))
	}
	if d.err == nil {
		opening := openings[domain.StreamOf(d.event.Data).Kind]
		switch {
		case l == nil && d.event.Type != opening.eventType:
			c.problem(d, "%s opens %s, which must start with %s", d.event.Type, aggregate, opening.eventType)
		case l != nil && d.event.Type == opening.eventType && !opening.repeats:
			c.problem(d, "%s again, though %s began at event %d", d.event.Type, aggregate, l.first)
		}
	}
	if l == nil {
		l = &link{first: d.seq}
		c.chains[aggregate] = l
	}
	l.sum, l.last = d.sum, d.seq
}

func (c *logCheck) problem(d *decoded, format string, args ...any) {
	c.report(fmt.Sprintf("event %d (%s): ", d.seq, d.subject) + fmt.Sprintf(format, args...))
}

// chainsTo reports whether prev, hex, names the hash sum.
func chainsTo(prev string, sum [32]byte) bool {
	var named [32]byte
	if len(prev) != hex.EncodedLen(len(named)) {
		return false
	}
	_, err := hex.Decode(named[:], []byte(prev))
	return err == nil && named == sum
}

// finish checks the end of the stream: the messages up to last must all
// have been read.
func (c *logCheck) finish(last uint64) {
	if c.next <= last {
		c.missing(c.next, last)
	}
}

func (c *logCheck) missing(from, to uint64) {
	c.report(fmt.Sprintf("stream: events %d to %d are missing (deleted, or lost from the store)", from, to))
}

// short is enough of a hash to tell it from another.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12] + "…"
	}
	return hash
}

// thousands writes n with thousands separators.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
