package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// eventLine is one event as printed in JSON.
type eventLine struct {
	Sequence uint64         `json:"sequence"`
	Subject  string         `json:"subject"`
	Time     time.Time      `json:"time"`
	Type     string         `json:"type"`
	Actor    string         `json:"actor"`
	Data     domain.Payload `json:"data"`
}

func eventsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("events [flags]", stderr)
	org := fs.String("org", "", "only this organization's events (its guard records only if --type names them)")
	invitation := fs.String("invitation", "", "only this invitation's events (needs --org)")
	eventType := fs.String("type", "", "only events of this type, e.g. invitation.accepted")
	var q query
	fs.Func("since", "only events stored at or after this RFC 3339 time", timeFlag(&q.since))
	fs.Func("until", "only events stored at or before this RFC 3339 time", timeFlag(&q.until))
	fs.Uint64Var(&q.fromSeq, "from-seq", 0, "first stream sequence")
	fs.Uint64Var(&q.toSeq, "to-seq", 0, "last stream sequence")
	fs.BoolVar(&q.follow, "follow", false, "keep printing new events until interrupted (or past --to-seq, --until)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if q.fromSeq > 0 && !q.since.IsZero() {
		return errors.New("give --from-seq or --since, not both")
	}
	var err error
	if q.filters, err = subjectFilters(*org, *invitation, *eventType); err != nil {
		return err
	}
	r, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.close()
	out := newLines(stdout, wantJSON(stdout, c.json), "SEQ", "TIME", "TYPE", "SUBJECT", "ACTOR")
	err = r.read(ctx, q, func(ev event) error {
		if *eventType == "" || ev.Type == *eventType {
			line := eventLine{Sequence: ev.Sequence, Subject: ev.Subject, Time: ev.Time, Type: ev.Type, Actor: ev.Data.ActedBy(), Data: ev.Data}
			if err := out.add(line, fmt.Sprint(ev.Sequence), timestamp(ev.Time), ev.Type, ev.Subject, line.Actor); err != nil {
				return err
			}
		}
		if ev.CaughtUp {
			return out.flush() // following: show the backlog, then each new event
		}
		return nil
	})
	return errors.Join(err, out.flush())
}

// subjectFilters narrows the read to the subjects that can hold the events
// asked for; the type itself is matched on each event.
func subjectFilters(org, invitation, eventType string) ([]string, error) {
	var kind domain.StreamKind
	if eventType != "" {
		// The domain's registry of event types tells the type's aggregate kind.
		var ok bool
		if kind, ok = domain.KindOfType(eventType); !ok {
			return nil, fmt.Errorf("unknown event type %q", eventType)
		}
	}
	if org == "" {
		if invitation != "" {
			return nil, errors.New("--invitation needs --org")
		}
		return nil, nil
	}
	if err := checkIDs(org, invitation); err != nil {
		return nil, err
	}
	switch {
	case invitation != "":
		return []string{eventstore.Filter(domain.StreamID{Kind: domain.KindInvitation, OrganizationID: org, Key: invitation})}, nil
	case kind == domain.KindEmailSlot || kind == domain.KindIdempotency:
		// Guard records are outside the organization's audit feed.
		return []string{eventstore.Filter(domain.StreamID{Kind: kind, OrganizationID: org, Key: "*"})}, nil
	}
	return eventstore.OrganizationFilters(org), nil
}
