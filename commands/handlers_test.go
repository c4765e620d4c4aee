package commands_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
)

// A command that loses the race of its append reloads, decides again on
// what the rival wrote, and ends as if it had come second.
func TestCommandsRetryALostRace(t *testing.T) {
	rivalResend := []domain.Payload{domain.InvitationResent{OrganizationID: org, InvitationID: "i1",
		TokenSHA256: domain.SHA256("rival-token"), ExpiresAt: now.Add(week), Actor: "user-rival"}, slot(adaEmail, "i1", "user-rival")}
	tests := []struct {
		name     string
		given    []domain.Payload
		rival    []domain.Payload
		when     func(*harness) error
		then     []domain.Payload // after the rival's events
		err      error
		command  string
		outcome  string
		attempts int
	}{{
		name: "cancel after a rival resend: cancelled", given: history(acme(), pending("i1", adaEmail)), rival: rivalResend,
		when: func(h *harness) error { _, err := cancelInvitation(h, cancelOf("i1")); return err },
		then: []domain.Payload{cancelled("i1", admin)}, command: "cancel_invitation", outcome: "written", attempts: 2,
	}, {
		name: "cancel after a rival cancel: nothing more", given: history(acme(), pending("i1", adaEmail)),
		rival:   []domain.Payload{cancelled("i1", "user-rival")},
		when:    func(h *harness) error { _, err := cancelInvitation(h, cancelOf("i1")); return err },
		command: "cancel_invitation", outcome: "unchanged", attempts: 2,
	}, {
		name: "accept after another user's accept: already accepted", given: history(acme(), pending("i1", adaEmail)),
		rival: joined("i1", bob, adaEmail),
		when:  func(h *harness) error { _, err := acceptInvitation(h, acceptByID("i1", adaCaller)); return err },
		err:   domain.ErrInvitationAlreadyAccepted, command: "accept_invitation", outcome: "refused", attempts: 2,
	}, {
		name: "create after a rival invitation of the same email: already exists", given: acme(), rival: pending("rival", adaEmail),
		when: func(h *harness) error { _, err := createInvitations(h, invitationsOf(adaEmail)); return err },
		err:  domain.ErrInvitationAlreadyExists, command: "create_invitations", outcome: "refused", attempts: 2,
	}, {
		name: "expire after a rival expire: nothing more", given: history(acme(), expiredAt("i1", adaEmail)),
		rival: []domain.Payload{domain.InvitationExpired{OrganizationID: org, InvitationID: "i1", Actor: domain.SystemActor}},
		when: func(h *harness) error {
			_, err := expireInvitation(h, commands.ExpireInvitation{OrganizationID: org, InvitationID: "i1"})
			return err
		},
		command: "expire_invitation", outcome: "unchanged", attempts: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.given...)
			h.store.rival = h.current(tt.rival) // another replica's
			wantErr(t, tt.when(h), tt.err)
			if h.store.conflicts != 1 {
				t.Fatalf("%d appends lost a race; want the first", h.store.conflicts)
			}
			h.wantAppended(slices.Concat(tt.rival, tt.then)...)
			if tt.outcome == "written" {
				h.wantVisible()
			}
			h.wantDone(tt.command, tt.outcome, tt.attempts)
		})
	}
}

// maxAttempts in handlers.go.
const maxAttempts = 8

// A command that loses every race (to another replica: those of this one
// queue) backs off between tries, a random time, and gives up within a
// bound as a conflict.
func TestCommandsGiveUpAfterLosingEveryRace(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	h.store.alwaysLose = true
	start := time.Now()
	_, err := cancelInvitation(h, cancelOf("i1"))
	took := time.Since(start)
	wantErr(t, err, domain.ErrConflict)
	if h.store.conflicts != maxAttempts {
		t.Fatalf("%d appends tried; want %d", h.store.conflicts, maxAttempts)
	}
	h.wantAppended()
	h.wantDone("cancel_invitation", "conflict", maxAttempts)
	// Full jitter over 5, 10, 20, 40, 80, 100 and 100 ms: 355 ms at most;
	// under 5 ms in all has a chance of about one in a million.
	if slept := h.store.lostAt[maxAttempts-1].Sub(h.store.lostAt[0]); slept < 5*time.Millisecond {
		t.Errorf("%d tries within %s: no backoff between them", maxAttempts, slept)
	}
	if took > time.Second {
		t.Errorf("gave up after %s; the backoff is bounded by 355 ms", took)
	}
}

// A caller that goes away while its command backs off stops it there.
func TestCommandBackoffEndsWithTheContext(t *testing.T) {
	h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
	h.store.alwaysLose = true
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.store.lost = cancel
	err := h.handlers.CancelInvitation.Handle(ctx, cancelOf("i1"))
	wantErr(t, err, domain.ErrConflict)
	if !errors.Is(err, context.Canceled) || h.store.conflicts > 1 {
		t.Fatalf("error %v after %d tries; want it stopped by the context", err, h.store.conflicts)
	}
	h.wantAppended()
}

// Every command refuses to write while the read side is down, so that what
// it writes cannot go unseen.
func TestCommandsRefuseWhileTheReadSideIsDown(t *testing.T) {
	commandsOf := map[string]func(*harness) error{
		"register_organization": func(h *harness) error {
			_, err := registerOrganization(h, commands.RegisterOrganization{OrganizationID: org, Name: "Renamed", Actor: admin})
			return err
		},
		"create_invitations": func(h *harness) error { _, err := createInvitations(h, invitationsOf(bobEmail)); return err },
		"accept_invitation":  func(h *harness) error { _, err := acceptInvitation(h, acceptByID("i1", adaCaller)); return err },
		"cancel_invitation":  func(h *harness) error { _, err := cancelInvitation(h, cancelOf("i1")); return err },
		"resend_invitation":  func(h *harness) error { _, err := resendInvitation(h, resendOf("i1")); return err },
		"remove_member": func(h *harness) error {
			_, err := removeMember(h, commands.RemoveMember{OrganizationID: org, UserID: bob, Actor: admin})
			return err
		},
		"expire_invitation": func(h *harness) error {
			_, err := expireInvitation(h, commands.ExpireInvitation{OrganizationID: org, InvitationID: "i0"})
			return err
		},
	}
	for name, command := range commandsOf {
		t.Run(name, func(t *testing.T) {
			// Each command would write here.
			h := newHarness(t, history(acme(), pending("i1", adaEmail), expiredAt("i0", "old@example.com"),
				pending("i2", bobEmail+".org"), joined("i2", bob, bobEmail+".org"))...)
			h.reads.notReady = errors.New("redis: connection refused")
			wantErr(t, command(h), domain.ErrUnavailable)
			h.wantAppended()
			h.wantDone(name, "unavailable", 0)

			h.reads.notReady = nil
			if err := command(h); err != nil {
				t.Fatalf("once the read side is back: %v", err)
			}
			if len(h.appended()) == 0 {
				t.Fatal("once the read side is back nothing was written")
			}
		})
	}
}
