package commands_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// Commands of one process on the same aggregate queue instead of racing:
// no append loses, so none is retried and none gives up, and each one
// answered written is in the store exactly once.
func TestConcurrentCommandsOnOneAggregateQueue(t *testing.T) {
	tests := []struct {
		name    string
		n       int // commands at once
		given   []domain.Payload
		command func(h *harness, i int) error
		succeed int // commands that succeed; the others fail with err
		err     error
		event   string // the type of event appended
		events  int    // how many times
	}{{
		// Each resend reads the invitation's whole history, a little longer
		// each time: 16 keep the test quick under -race.
		name: "resends of one invitation: each written", n: 16, given: history(acme(), pending("i1", adaEmail)),
		command: func(h *harness, _ int) error { _, err := resendInvitation(h, resendOf("i1")); return err },
		succeed: 16, event: domain.TypeInvitationResent, events: 16,
	}, {
		name: "resends of one invitation with one If-Match: one written, the others refused", n: 16, given: history(acme(), pending("i1", adaEmail)),
		command: func(h *harness, _ int) error {
			r := resendOf("i1")
			r.Precondition = ifMatch("v1.1")
			_, err := resendInvitation(h, r)
			return err
		},
		succeed: 1, err: domain.ErrPreconditionFailed, event: domain.TypeInvitationResent, events: 1,
	}, {
		name: "creates of one email: one written, the others refused", n: 64, given: acme(),
		command: func(h *harness, _ int) error { _, err := createInvitations(h, invitationsOf(adaEmail)); return err },
		succeed: 1, err: domain.ErrInvitationAlreadyExists, event: domain.TypeInvitationCreated, events: 1,
	}, {
		name: "accepts of one invitation by many users: one member", n: 64, given: history(acme(), pending("i1", adaEmail)),
		command: func(h *harness, i int) error {
			_, err := acceptInvitation(h, acceptByID("i1", domain.Caller{UserID: fmt.Sprint("user-", i), Email: adaEmail}))
			return err
		},
		succeed: 1, err: domain.ErrInvitationAlreadyAccepted, event: domain.TypeInvitationAccepted, events: 1,
	}, {
		// Each accept of the one that won succeeds: it made that member.
		name: "accepts of two invitations by one user: one member", n: 64, given: history(acme(), pending("i1", adaEmail), pending("i2", "ada@example.org")),
		command: func(h *harness, i int) error {
			_, err := acceptInvitation(h, acceptByID(fmt.Sprint("i", 1+i%2), domain.Caller{UserID: ada, Email: []string{adaEmail, "ada@example.org"}[i%2]}))
			return err
		},
		succeed: 32, err: domain.ErrAlreadyMember, event: domain.TypeInvitationAccepted, events: 1,
	}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n, " ", tt.name), func(t *testing.T) {
			h := newHarness(t, tt.given...)
			errs := make([]error, tt.n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range tt.n {
				wg.Go(func() {
					<-start
					errs[i] = tt.command(h, i)
				})
			}
			close(start)
			wg.Wait()
			succeeded := 0
			for _, err := range errs {
				if err == nil {
					succeeded++
				} else if !errors.Is(err, tt.err) {
					t.Errorf("error %v; want none or %v", err, tt.err)
				}
			}
			if succeeded != tt.succeed {
				t.Errorf("%d of %d succeeded; want %d", succeeded, tt.n, tt.succeed)
			}
			events := 0
			for _, e := range h.appended() {
				if e.Type == tt.event {
					events++
				}
			}
			if events != tt.events {
				t.Errorf("%d %s appended; want %d", events, tt.event, tt.events)
			}
			if h.store.conflicts != 0 {
				t.Errorf("%d appends lost a race to a command of the same process", h.store.conflicts)
			}
			for _, d := range h.observer.done {
				if d.attempts != 1 {
					t.Fatalf("observer heard %+v; want every command decided once", d)
				}
			}
		})
	}
}

// A command queued behind another on the same aggregate stops waiting when
// its caller's context ends (deadline passed, client gone): it answers a
// conflict at once, having tried nothing and written nothing.
func TestQueuedCommandStopsWaitingWithItsContext(t *testing.T) {
	for name, ctx := range map[string]func(context.Context) (context.Context, context.CancelFunc){
		"deadline passed": func(parent context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(parent, 50*time.Millisecond)
		},
		"client gone": func(parent context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(parent)
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, history(acme(), pending("i1", adaEmail))...)
			h.store.hold, h.store.arrived = make(chan struct{}), make(chan struct{}, 2)
			first := make(chan error)
			go func() { _, err := resendInvitation(h, resendOf("i1")); first <- err }()
			<-h.store.arrived // the resend is appending, holding i1

			ctx, cancel := ctx(t.Context())
			defer cancel()
			start := time.Now()
			err := h.handlers.CancelInvitation.Handle(ctx, cancelOf("i1"))
			wantErr(t, err, domain.ErrConflict)
			if !errors.Is(err, ctx.Err()) {
				t.Errorf("error %v does not say why it stopped (%v)", err, ctx.Err())
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("stopped waiting after %s", took)
			}
			h.wantDone("cancel_invitation", "conflict", 0)

			close(h.store.hold)
			if err := <-first; err != nil {
				t.Fatalf("the resend it queued behind: %v", err)
			}
			for _, e := range h.appended() {
				if e.Type != domain.TypeInvitationResent && e.Type != domain.TypeEmailReserved {
					t.Errorf("appended %s; want the resend's events alone", e.Type)
				}
			}
		})
	}
}
