package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// filler publishes events straight to the stream with PublishAsync, chained
// as the service chains them but without its optimistic concurrency: the
// fast way to a stream of a few hundred thousand events, and the way to
// publish what the service never would.
type filler struct {
	js     jetstream.JetStream
	signer *signing.Signer   // signs each event as the service does
	last   map[string]string // aggregate subject → SHA-256 of its last message
	seq    uint64            // messages published
	orgs   int               // organizations filled
}

func newFiller(t testing.TB, url string, creds eventstore.Credentials, signer *signing.Signer) *filler {
	t.Helper()
	opts, err := eventstore.ServiceOptions(creds)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	return &filler{js: js, signer: signer, last: map[string]string{}}
}

// publish appends p chained to its aggregate's last event.
func (f *filler) publish(t testing.TB, p domain.Payload) {
	t.Helper()
	e := domain.NewEvent(fmt.Sprint("ev-", f.seq+1), time.Now(), p)
	subject := eventstore.Subject(e)
	e.PrevSHA256 = f.last[aggregateOf(subject)]
	data, err := domain.MarshalCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	f.raw(t, subject, data)
}

// raw appends data as it is, keeping the chain of its subject's aggregate.
func (f *filler) raw(t testing.TB, subject string, data []byte) {
	t.Helper()
	if _, err := f.js.PublishMsgAsync(eventstore.SignedMsg(f.signer, subject, data)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	f.last[aggregateOf(subject)] = hex.EncodeToString(sum[:])
	f.seq++
}

// wait returns once every event published so far is stored.
func (f *filler) wait(t testing.TB) {
	t.Helper()
	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("publishes not acknowledged within a minute")
	}
}

// fill publishes n events of a busy service: organizations with invitations
// created (each with its email slot), accepted (with the membership),
// cancelled, resent (with the slot again) or left pending, renames, and
// members removed.
func (f *filler) fill(t testing.TB, n int) {
	t.Helper()
	start := f.seq
	emit := func(p domain.Payload) bool {
		if f.seq-start == uint64(n) {
			return false
		}
		f.publish(t, p)
		return true
	}
	for f.seq-start < uint64(n) {
		o := f.orgs
		f.orgs++ // also when cut short: the next fill starts a new one
		org := fmt.Sprint("org-", o)
		if !emit(domain.OrganizationRegistered{OrganizationID: org, Name: "Org " + org, Actor: "admin"}) {
			break
		}
		const perOrg = 40
		ids := make([]string, perOrg)
		for i := range ids {
			ids[i] = fmt.Sprintf("01936f3e-%04x-7000-8000-%012x", o%0x10000, i)
			email := fmt.Sprintf("user%d@%s.example.com", i, org)
			c := created(org, ids[i], email, time.Now().Add(24*time.Hour))
			if !emit(c) || !emit(reserved(org, ids[i], email)) {
				return
			}
		}
		for i, id := range ids {
			user := fmt.Sprintf("user-%d-%d", o, i)
			email := fmt.Sprintf("user%d@%s.example.com", i, org)
			var ok bool
			switch i % 4 {
			case 0:
				ok = emit(domain.InvitationAccepted{OrganizationID: org, InvitationID: id, UserID: user, Actor: user}) &&
					emit(domain.MembershipAdded{OrganizationID: org, UserID: user, Email: email, Role: domain.RoleMember, InvitationID: id, Actor: user})
			case 1:
				ok = emit(domain.InvitationCancelled{OrganizationID: org, InvitationID: id, Actor: "admin"})
			case 2:
				ok = emit(domain.InvitationResent{OrganizationID: org, InvitationID: id, TokenSHA256: domain.SHA256("resent-" + id),
					ExpiresAt: time.Now().Add(48 * time.Hour), Actor: "admin"}) && emit(reserved(org, id, email))
			default:
				ok = true
			}
			if !ok {
				return
			}
		}
		if !emit(domain.OrganizationRenamed{OrganizationID: org, Name: "Renamed " + org, Actor: "admin"}) ||
			!emit(domain.MembershipRemoved{OrganizationID: org, UserID: fmt.Sprintf("user-%d-0", o), InvitationID: ids[0], Actor: "admin"}) {
			return
		}
	}
}
