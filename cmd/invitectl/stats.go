package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

type streamJSON struct {
	Name          string `json:"name"`
	Messages      uint64 `json:"messages"`
	Bytes         uint64 `json:"bytes"`
	FirstSequence uint64 `json:"first_sequence"`
	LastSequence  uint64 `json:"last_sequence"`
}

type statsJSON struct {
	Stream               streamJSON            `json:"stream"`
	EventsByType         map[string]int        `json:"events_by_type"`
	InvitationsByStatus  map[domain.Status]int `json:"invitations_by_status"`
	EventsByOrganization map[string]int        `json:"events_by_organization"`
}

func statsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("stats [flags]", stderr)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	r, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.close()
	// The counts and the size are of the same events: those stored at the start.
	info := r.stream.CachedInfo().State
	stats := statsJSON{
		Stream:               streamJSON{Name: eventstore.StreamName, Messages: info.Msgs, Bytes: info.Bytes, FirstSequence: info.FirstSeq, LastSequence: info.LastSeq},
		EventsByType:         map[string]int{},
		InvitationsByStatus:  map[domain.Status]int{},
		EventsByOrganization: map[string]int{},
	}
	now := time.Now()
	var invitations aggregates[domain.Invitation, *domain.Invitation]
	err = r.read(ctx, query{}, func(ev event) error {
		stats.EventsByType[ev.Type]++
		id := domain.StreamOf(ev.Data)
		stats.EventsByOrganization[id.OrganizationID]++
		if id.Kind == domain.KindInvitation {
			invitations.apply(ev.Event)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, inv := range invitations.order {
		stats.InvitationsByStatus[inv.StatusAt(now)]++
	}
	if wantJSON(stdout, c.json) {
		return json.NewEncoder(stdout).Encode(stats)
	}
	s := stats.Stream
	return printSections(stdout,
		[][]string{{"STREAM", "MESSAGES", "BYTES", "FIRST_SEQ", "LAST_SEQ"}, {s.Name, fmt.Sprint(s.Messages), fmt.Sprint(s.Bytes), fmt.Sprint(s.FirstSequence), fmt.Sprint(s.LastSequence)}},
		counts("EVENT_TYPE", "EVENTS", stats.EventsByType),
		counts("INVITATION_STATUS", "INVITATIONS", stats.InvitationsByStatus),
		counts("ORGANIZATION", "EVENTS", stats.EventsByOrganization))
}

// counts is a table of counts by key, sorted by key.
func counts[K ~string](key, count string, m map[K]int) [][]string {
	rows := [][]string{{key, count}}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		rows = append(rows, []string{string(k), fmt.Sprint(m[k])})
	}
	return rows
}
