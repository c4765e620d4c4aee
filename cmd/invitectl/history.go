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

// historyLine is one event of an invitation and the invitation after it.
type historyLine struct {
	Sequence          uint64        `json:"sequence"`
	Time              time.Time     `json:"time"`
	Type              string        `json:"type"`
	Actor             string        `json:"actor"`
	Status            domain.Status `json:"status"`
	Version           int           `json:"version"`
	ExpiresAt         time.Time     `json:"expires_at"`
	TokenSHA256Prefix string        `json:"token_sha256_prefix"`
	// Delivery is the current token's email (see domain.DeliveryStatus),
	// empty when none was to be sent.
	Delivery domain.DeliveryStatus `json:"delivery,omitempty"`
}

// tokenPrefix is enough of a token's hash to tell a rotation.
const tokenPrefix = 12

func historyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("history [flags] ORG INVITATION", stderr)
	ids, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	org, id := ids[0], ids[1]
	if err := checkIDs(org, id); err != nil {
		return err
	}
	r, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.close()
	out := newLines(stdout, wantJSON(stdout, c.json), "SEQ", "TIME", "TYPE", "ACTOR", "STATUS", "VERSION", "EXPIRES_AT", "TOKEN_SHA256", "DELIVERY")
	var inv domain.Invitation
	q := query{filters: []string{eventstore.Filter(domain.StreamID{Kind: domain.KindInvitation, OrganizationID: org, Key: id})}}
	err = r.read(ctx, q, func(ev event) error {
		inv.Apply(ev.Event)
		line := historyLine{Sequence: ev.Sequence, Time: ev.Time, Type: ev.Type, Actor: ev.Data.ActedBy(),
			Status: inv.StatusAt(ev.Time), Version: inv.Version, ExpiresAt: inv.ExpiresAt,
			TokenSHA256Prefix: inv.TokenSHA256[:min(tokenPrefix, len(inv.TokenSHA256))], Delivery: inv.DeliveryAt(ev.Time)}
		return out.add(line, fmt.Sprint(line.Sequence), timestamp(line.Time), line.Type, line.Actor,
			string(line.Status), fmt.Sprint(line.Version), timestamp(line.ExpiresAt), line.TokenSHA256Prefix, string(line.Delivery))
	})
	if err := errors.Join(err, out.flush()); err != nil {
		return err
	}
	if !inv.Exists() {
		return fmt.Errorf("invitation %s not found in organization %s", id, org)
	}
	return nil
}
