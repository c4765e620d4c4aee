package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// common holds the flags every stream command takes.
type common struct {
	natsURL string
	creds   eventstore.Credentials
	json    bool
	// kekFile and previousKEKFiles open the addresses of events: without
	// them a sealed address shows as [sealed].
	kekFile          string
	previousKEKFiles []string
}

// env is the default of a setting invitectl shares with the service:
// INVITECTL_<name>, else the service's INVITESVC_<name>. invitectl's own
// prefix keeps a value exported for it from the service: INVITESVC_NATS_URL
// exported for invitectl would make the service leave its embedded server.
func env(name string) string {
	if v, ok := os.LookupEnv("INVITECTL_" + name); ok {
		return v
	}
	return os.Getenv("INVITESVC_" + name)
}

// newFlags makes the flag set of a stream command that prints records, with
// the common flags.
func newFlags(synopsis string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs, c := newNATSFlags(synopsis, stderr)
	fs.BoolVar(&c.json, "json", false, "print JSON even on a terminal")
	return fs, c
}

// newNATSFlags makes the flag set of a stream command.
func newNATSFlags(synopsis string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("invitectl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: invitectl %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	c := &common{}
	fs.StringVar(&c.natsURL, "nats-url", env("NATS_URL"), "NATS server holding the stream (default $INVITECTL_NATS_URL, else $INVITESVC_NATS_URL)")
	fs.StringVar(&c.creds.NKeyFile, "nats-nkey", os.Getenv("INVITECTL_NATS_NKEY"), "nkey seed file of an auditor user, e.g. <data-dir>/nats/auditor.nk (default $INVITECTL_NATS_NKEY)")
	fs.StringVar(&c.creds.CredsFile, "nats-creds", os.Getenv("INVITECTL_NATS_CREDS"), "JWT creds file of an auditor user, instead of --nats-nkey (default $INVITECTL_NATS_CREDS)")
	fs.StringVar(&c.kekFile, "key-encryption-key-file", env("KEY_ENCRYPTION_KEY_FILE"),
		"the service's key-encryption key, to open the email addresses of events, e.g. <data-dir>/key-encryption-key (default $INVITECTL_KEY_ENCRYPTION_KEY_FILE, else $INVITESVC_KEY_ENCRYPTION_KEY_FILE); without it they show as [sealed]")
	fs.Func("previous-key-encryption-key-file", "a key-encryption key rotated out that may still wrap keys (repeatable)", func(v string) error {
		c.previousKEKFiles = append(c.previousKEKFiles, v)
		return nil
	})
	return fs, c
}

// parse reads the flags wherever they stand among exactly n positional
// arguments, so that "history acme ID --json" works as well.
func parse(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != n {
		fs.Usage()
		return nil, fmt.Errorf("want %d arguments, got %d", n, len(positional))
	}
	return positional, nil
}

// timeFlag parses an RFC 3339 flag value into t.
func timeFlag(t *time.Time) func(string) error {
	return func(s string) (err error) {
		*t, err = time.Parse(time.RFC3339, s)
		return err
	}
}

// checkIDs refuses ids that are not the contract's: besides being wrong,
// they could hold subject wildcards and widen a filter.
func checkIDs(org, invitation string) error {
	if !domain.ValidOrganizationID(org) {
		return fmt.Errorf("organization id %q is not valid", org)
	}
	if invitation == "" {
		return nil
	}
	if !domain.ValidInvitationID(invitation) {
		return fmt.Errorf("invitation id %q is not a UUID", invitation)
	}
	return nil
}

// reader reads the stream on its own connection.
type reader struct {
	nc     *nats.Conn
	stream jetstream.Stream // its cached info is the stream as the command started
	// personal opens the addresses of events, read-only; nil without a
	// key-encryption key.
	personal *keystore.Store
}

func (c *common) open(ctx context.Context) (*reader, error) {
	if c.natsURL == "" {
		return nil, errors.New("give --nats-url or set INVITECTL_NATS_URL")
	}
	opts, err := c.creds.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.natsURL, append(opts, nats.Name("invitectl"))...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err == nil {
		var stream jetstream.Stream
		if stream, err = js.Stream(ctx, eventstore.StreamName); err == nil {
			r := &reader{nc: nc, stream: stream}
			if r.personal, err = c.openKeys(ctx, js); err == nil {
				return r, nil
			}
			nc.Close()
			return nil, err
		}
	}
	nc.Close()
	return nil, fmt.Errorf("stream %s: %w", eventstore.StreamName, err)
}

// openKeys opens the key bucket read-only with the KEKs given, if any.
func (c *common) openKeys(ctx context.Context, js jetstream.JetStream) (*keystore.Store, error) {
	if c.kekFile == "" {
		return nil, nil
	}
	current, err := keystore.LoadKEK(c.kekFile)
	if err != nil {
		return nil, err
	}
	var previous []*keystore.KEK
	for _, path := range c.previousKEKFiles {
		k, err := keystore.LoadKEK(path)
		if err != nil {
			return nil, err
		}
		previous = append(previous, k)
	}
	s, err := keystore.Open(ctx, js, current, previous, keystore.ReadOnly())
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	return s, nil
}

// errNoKEK is a command that must open addresses and cannot.
var errNoKEK = errors.New("the email addresses of events are sealed: give the service's key-encryption key with --key-encryption-key-file (or set INVITECTL_KEY_ENCRYPTION_KEY_FILE)")

// opener is what opens addresses for a projector: the key store, which
// the command must have.
func (r *reader) opener() (projections.PersonalData, error) {
	if r.personal == nil {
		return nil, errNoKEK
	}
	return r.personal, nil
}

// shown is p as the commands print it: its address opened, or a marker.
func (r *reader) shown(ctx context.Context, p domain.Payload) (domain.Payload, error) {
	if r.personal != nil {
		var err error
		if p, err = r.personal.Open(ctx, p); err != nil {
			return nil, err
		}
	}
	return domain.Shown(p), nil
}

func (r *reader) close() { r.nc.Close() }

// query selects events; zero fields select everything.
type query struct {
	filters []string
	fromSeq uint64    // first sequence
	since   time.Time // stored at or after
	toSeq   uint64    // last sequence
	until   time.Time // stored at or before
	follow  bool      // keep waiting for new events
}

// event is one event read from the stream.
type event struct {
	domain.Recorded
	CaughtUp bool // it was the last matching event stored when read
}

// read calls fn with each event q selects, in stream order; an event that
// does not decode ends the read with an error.
func (r *reader) read(ctx context.Context, q query, fn func(event) error) error {
	return r.readRaw(ctx, q, func(m message) error {
		e, err := domain.UnmarshalCloudEvent(m.data)
		if err != nil {
			return fmt.Errorf("event %d on %s: %w", m.seq, m.subject, err)
		}
		if e.Data, err = r.shown(ctx, e.Data); err != nil {
			return fmt.Errorf("event %d on %s: %w", m.seq, m.subject, err)
		}
		return fn(event{Recorded: domain.Recorded{Event: e, Sequence: m.seq, Subject: m.subject}, CaughtUp: m.caughtUp})
	})
}

// message is one stored message, as read.
type message struct {
	seq      uint64
	subject  string
	data     []byte
	caughtUp bool // it was the last matching message stored when read
	// keyID and signature are the event's signature headers.
	keyID, signature string
}

// pullBatch is how many messages the consumer asks for at once: enough to
// keep the server busy while the client works through the previous batch.
const pullBatch = 2048

// readRaw calls fn with each message q selects, in stream order. It reads
// with an ordered consumer, which is ephemeral and in memory on the server,
// and deletes it when done: a read-only tool leaves nothing behind. Unless
// following, it stops at the stream's last message as of the start.
func (r *reader) readRaw(ctx context.Context, q query, fn func(message) error) error {
	if !q.follow {
		last := r.stream.CachedInfo().State.LastSeq
		if last == 0 {
			return nil
		}
		if q.toSeq == 0 || q.toSeq > last {
			q.toSeq = last
		}
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: q.filters}
	switch {
	case q.fromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, q.fromSeq
	case !q.since.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &q.since
	}
	cons, err := r.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", eventstore.StreamName, err)
	}
	defer r.drop(cons)
	// Nothing matches: waiting for a first message would block forever.
	if !q.follow && cons.CachedInfo().NumPending == 0 {
		return nil
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return fmt.Errorf("read %s: %w", eventstore.StreamName, err)
	}
	defer msgs.Stop()
	for {
		msg, err := msgs.Next(jetstream.NextContext(ctx))
		if err != nil {
			if q.follow && ctx.Err() != nil {
				return nil // interrupted: how following ends
			}
			return fmt.Errorf("read %s: %w", eventstore.StreamName, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		seq := meta.Sequence.Stream
		if (q.toSeq > 0 && seq > q.toSeq) || (!q.until.IsZero() && meta.Timestamp.After(q.until)) {
			return nil
		}
		m := message{seq: seq, subject: msg.Subject(), data: msg.Data(), caughtUp: meta.NumPending == 0,
			keyID: msg.Headers().Get(signing.KeyIDHeader), signature: msg.Headers().Get(signing.SignatureHeader)}
		if err := fn(m); err != nil {
			return err
		}
		if seq == q.toSeq || (m.caughtUp && !q.follow) {
			return nil
		}
	}
}

// drop deletes the consumer at once rather than leave it to the server's
// inactivity threshold; failing that, the threshold still removes it.
func (r *reader) drop(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.stream.DeleteConsumer(ctx, cons.CachedInfo().Name)
}
