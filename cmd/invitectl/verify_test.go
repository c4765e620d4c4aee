package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// wantProblems checks that verify failed with exactly these problems.
func wantProblems(t *testing.T, out string, err error, want ...string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d problems found", len(want))) {
		t.Errorf("verify: %v; want %d problems found", err, len(want))
	}
	wantLines(t, out, want...)
}

func TestVerifyReadStore(t *testing.T) {
	s := newScenario(t)
	rs := newReadStore(t)
	if err := rs.project(t, s.fixture); err != nil {
		t.Fatal(err)
	}
	verify := append([]string{"verify"}, rs.flags()...)
	if out, err := s.try(verify...); err != nil || out != "" {
		t.Fatalf("verify of a faithful read store: %q, %v", out, err)
	}

	// Changes behind the service's back.
	ctx, c, p := t.Context(), rs.client, rs.prefix
	doc := c.HGet(ctx, p+"inv:{acme}:"+invA, "doc").Val()
	c.HSet(ctx, p+"inv:{acme}:"+invA, "doc", strings.Replace(doc, "ada@example.com", "eve@example.com", 1))
	tokenG := domain.SHA256("token-" + invG)
	c.Del(ctx, p+"tok:"+tokenG)
	c.ZRem(ctx, p+"invs:{acme}:cancelled", invB)
	c.Set(ctx, p+"org:{initech}", `{"id":"initech","name":"Initech"}`, 0)
	c.HSet(ctx, p+"inv:{globex}:"+invG, "v", "5")
	c.HSet(ctx, p+"mem:{acme}:"+domain.SHA256("mallory"), "doc", `{"user":"mallory"}`, "p", "3")
	c.HSet(ctx, p+"mem:{acme}:"+domain.SHA256("user-42"), "doc", `{"org":"acme","user":"user-42","role":"owner"}`, "p", "12")

	out, err := s.try(verify...)
	email := invA + `@3: Email is "eve@example.com" in Redis, "ada@example.com" in the replay`
	wantProblems(t, out, err,
		"read store: list acme/all: "+email,
		"read store: list acme/accepted: "+email,
		"read store: token "+short(tokenG)+": missing from Redis",
		"read store: list acme/cancelled: Redis lacks "+invB+"@5",
		"read store: organization initech: in Redis, but not in a replay of the stream",
		"read store: member acme/user-42: in Redis, but not in a replay of the stream",
		"read store: invitation key globex/"+invG+`: field v is "5", its document says "1"`,
		"read store: member key of acme for user hash "+short(domain.SHA256("mallory"))+": no membership in the stream has that user",
	)
}

// tamper publishes e on subject as it is, chained to prev: what someone
// with publish rights on the stream could write, bypassing the service.
func tamper(t *testing.T, fl *filler, subject, prev string, e domain.Event) {
	t.Helper()
	e.PrevSHA256 = prev
	data, err := domain.MarshalCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	fl.raw(t, subject, data)
}

func TestVerifyLog(t *testing.T) {
	s := newScenario(t)
	if out, err := s.try("verify"); err != nil || out != "" {
		t.Fatalf("verify of the service's own stream: %q, %v", out, err)
	}
	stored := func(seq uint64) string {
		msg, err := s.stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		return domain.SHA256(string(msg.Data))
	}
	fl := newFiller(t, s.url, s.service, s.keys.Signer)
	event := func(p domain.Payload) domain.Event {
		return domain.NewEvent(fmt.Sprint("tamper-", fl.seq), time.Now(), p)
	}
	on := func(e domain.Event) string { return eventstore.Subject(e) }

	// 19: chained to an event of another aggregate.
	accept := event(domain.InvitationAccepted{OrganizationID: "globex", InvitationID: invG, UserID: "user-7", Actor: "user-7"})
	tamper(t, fl, on(accept), stored(2), accept)
	// 20: a second version 2 of B, chained to its creation: a fork.
	cancel := event(domain.InvitationCancelled{OrganizationID: "acme", InvitationID: invB, Actor: "mallory"})
	tamper(t, fl, on(cancel), stored(5), cancel)
	// 21: a type this build does not know, well chained.
	approve := event(domain.InvitationAccepted{OrganizationID: "acme", InvitationID: invA, UserID: "user-42", Actor: "user-42"})
	approve.Type = "invitation.approved"
	tamper(t, fl, on(approve), stored(11), approve)
	// 22: C created again, well chained.
	again := event(created("acme", invC, "cy@example.com", time.Now().Add(time.Hour)))
	tamper(t, fl, on(again), stored(15), again)
	// 23: an invitation that starts with its acceptance.
	invX := "01936f3e-0000-7000-8000-0000000000ee"
	orphan := event(domain.InvitationAccepted{OrganizationID: "acme", InvitationID: invX, UserID: "user-9", Actor: "user-9"})
	tamper(t, fl, on(orphan), "", orphan)
	// 24: acme's rename on globex's subject, chained as globex's.
	rename := event(domain.OrganizationRenamed{OrganizationID: "acme", Name: "Pwned", Actor: "mallory"})
	tamper(t, fl, "organizations.globex.renamed", stored(2), rename)
	fl.wait(t)

	problems := []string{
		fmt.Sprintf("event 19 (invitations.globex.%s.accepted): prevsha256 %s is not the SHA-256 of event 9, the previous one of invitations.globex.%s (%s): the chain is broken",
			invG, short(stored(2)), invG, short(stored(9))),
		fmt.Sprintf("event 20 (invitations.acme.%s.cancelled): prevsha256 %s is not the SHA-256 of event 13, the previous one of invitations.acme.%s (%s): the chain is broken",
			invB, short(stored(5)), invB, short(stored(13))),
		fmt.Sprintf("event 21 (invitations.acme.%s.approved): does not decode: %v: invitation.approved revision 1", invA, domain.ErrUnknownEvent),
		fmt.Sprintf("event 22 (invitations.acme.%s.created): invitation.created again, though invitations.acme.%s began at event 7", invC, invC),
		fmt.Sprintf("event 23 (invitations.acme.%s.accepted): invitation.accepted opens invitations.acme.%s, which must start with invitation.created", invX, invX),
		"event 24 (organizations.globex.renamed): a organization.renamed that belongs on organizations.acme.renamed",
	}
	out, err := s.try("verify")
	wantProblems(t, out, err, problems...)

	// The read store holds what the service's projector made of the same
	// events, up to the second creation of C, which it cannot apply and
	// stops at: verify finds no more problems with it.
	rs := newReadStore(t)
	if err := rs.project(t, s.fixture); !errors.Is(err, projections.ErrVersionConflict) {
		t.Fatalf("projecting the tampered stream: %v; want a version conflict at event 22", err)
	}
	out, err = s.try(append([]string{"verify"}, rs.flags()...)...)
	wantProblems(t, out, err, problems...)
	if n := s.consumers(t); n != 0 {
		t.Errorf("verify left %d consumers on the stream", n)
	}

	// A read store past the event the projector cannot apply holds what the
	// service could not have written: it is not compared.
	rs.client.Set(t.Context(), rs.prefix+"checkpoint", 24, 0)
	out, err = s.try(append([]string{"verify"}, rs.flags()...)...)
	wantProblems(t, out, err, append(problems,
		"read store: not compared: Redis is at checkpoint 24, but the service's projector cannot apply event 22: read store: invitation version conflict")...)
}

// Events removed from the stream (possible only where the stream allows
// deletes) show as missing sequences, and break the chain of an aggregate
// whose earlier event went.
func TestVerifyDeletedEvents(t *testing.T) {
	s := newScenario(t, func(c *jetstream.StreamConfig) { c.DenyDelete = false })
	for _, seq := range []uint64{5, 18} {
		if err := s.stream.DeleteMsg(t.Context(), seq); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.try("verify")
	wantProblems(t, out, err,
		"stream: events 5 to 5 are missing (deleted, or lost from the store)",
		"stream: events 18 to 18 are missing (deleted, or lost from the store)",
		fmt.Sprintf("event 13 (invitations.acme.%s.cancelled): first event of invitations.acme.%s, yet its prevsha256 names a previous one (%s)",
			invB, invB, short(domain.SHA256(string(mustMarshal(t, s.written[4], ""))))),
		fmt.Sprintf("event 13 (invitations.acme.%s.cancelled): invitation.cancelled opens invitations.acme.%s, which must start with invitation.created", invB, invB),
	)
}

func mustMarshal(t *testing.T, e domain.Event, prev string) []byte {
	t.Helper()
	e.PrevSHA256 = prev
	b, err := domain.MarshalCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verify while the service writes: what changes during the comparison is
// read again, not reported.
func TestVerifyWhileWriting(t *testing.T) {
	f := newFixture(t)
	rs := newReadStore(t)
	fl := newFiller(t, f.url, f.service, f.keys.Signer)
	fl.fill(t, 3000)
	fl.wait(t)
	if err := rs.project(t, f); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	writer := make(chan error, 1)
	go func() {
		defer close(writer)
		for {
			select {
			case <-done:
				return
			default:
			}
			fl.fill(t, 50)
			fl.wait(t)
			if err := rs.project(t, f); err != nil {
				writer <- err
				return
			}
		}
	}()
	var out, errOut testkit.Buffer
	err := run(append([]string{"verify", "--nats-url", f.url}, rs.flags()...), &out, &errOut)
	close(done)
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
	if err != nil || out.String() != "" {
		t.Fatalf("verify while writing: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "records and lists in") {
		t.Errorf("no comparison summary: %s", errOut.String())
	}
}

func TestVerifyArguments(t *testing.T) {
	f := newFixture(t)
	if _, err := f.try("verify", "--redis-url", "redis://127.0.0.1:1/0"); err == nil || !strings.Contains(err.Error(), "connect to Redis") {
		t.Errorf("unreachable Redis: %v", err)
	}
	if err := run([]string{"verify", "--nats-url", f.url, "extra"}, io.Discard, io.Discard); err == nil {
		t.Error("an extra argument was accepted")
	}
	if err := run([]string{"verify", "--help"}, io.Discard, io.Discard); err != nil {
		t.Errorf("--help: %v", err)
	}
}

// With the service's public key, verify names each event whose signature
// is missing or wrong, by sequence: here a forged first event of an
// aggregate, which no hash chain contradicts.
func TestVerifySignatures(t *testing.T) {
	s := newScenario(t)
	verify := []string{"verify", "--verify-keys", s.pubKey}
	if out, err := s.try(verify...); err != nil || out != "" {
		t.Fatalf("verify of the service's own signed stream: %q, %v", out, err)
	}
	info, err := s.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	fl := newFiller(t, s.url, s.service, s.keys.Signer)
	forged := domain.NewEvent("forged-1", time.Now(), domain.MembershipAdded{OrganizationID: "acme", UserID: "mallory",
		Email: "mallory@example.com", Role: domain.RoleOwner, InvitationID: "none", Actor: "mallory"})
	unsigned, err := domain.MarshalCloudEvent(forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fl.js.Publish(t.Context(), eventstore.Subject(forged), unsigned); err != nil {
		t.Fatal(err)
	}
	other := testkit.Keys(t)
	again := domain.NewEvent("forged-2", time.Now(), domain.MembershipAdded{OrganizationID: "acme", UserID: "trudy",
		Email: "trudy@example.com", Role: domain.RoleOwner, InvitationID: "none", Actor: "trudy"})
	data, err := domain.MarshalCloudEvent(again)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fl.js.PublishMsg(t.Context(), eventstore.SignedMsg(other.Signer, eventstore.Subject(again), data)); err != nil {
		t.Fatal(err)
	}
	out, err := s.try(verify...)
	wantProblems(t, out, err,
		fmt.Sprintf("event %d (%s): event is not signed", last+1, eventstore.Subject(forged)),
		fmt.Sprintf("event %d (%s): event is signed with an unknown key: %q", last+2, eventstore.Subject(again), other.Signer.KeyID()))
	// Without the keys, the forgeries go unseen: verify says so.
	var stderr strings.Builder
	if err := run([]string{"verify", "--nats-url", s.url}, io.Discard, &stderr); err != nil || !strings.Contains(stderr.String(), "signatures were not checked") {
		t.Fatalf("verify without keys: %v, %s", err, stderr.String())
	}
}
