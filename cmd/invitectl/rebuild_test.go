package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// startService runs the service on the fixture's stream and the read store.
func startService(t *testing.T, f *fixture, rs *readStore) *service.Service {
	t.Helper()
	svc, err := service.Start(t.Context(), service.Config{NATSURL: f.url, NATSNKeyFile: f.service.NKeyFile, DataDir: t.TempDir(), SigningKey: f.signingKey, KEKFile: f.kekFile, RedisURL: rs.url,
		RedisPrefix: rs.prefix, JWTSecret: "0123456789abcdef0123456789abcdef-invitectl", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

// probes are queries the HTTP API makes, over invitations the filler made in
// its first organizations: each answers one string.
func probes(q *projections.Queries, orgs int) []func(context.Context) (string, error) {
	answer := func(v any, found bool, err error) (string, error) { return fmt.Sprintf("%v %+v", found, v), err }
	// A token's answer without the checkpoint, which moves on.
	token := func(m projections.TokenMatch, err error) (string, error) {
		return answer(fmt.Sprintf("%+v %+v", m.Invitation, m.Organization), m.Found, err)
	}
	var ps []func(context.Context) (string, error)
	for o := range orgs {
		org := fmt.Sprint("org-", o)
		ps = append(ps,
			func(ctx context.Context) (string, error) { return answer(q.Organization(ctx, org)) },
			func(ctx context.Context) (string, error) {
				p, err := q.Invitations(ctx, org, projections.StatusAll, projections.PageRequest{Limit: 10})
				return answer(p, true, err)
			},
			func(ctx context.Context) (string, error) {
				p, err := q.Invitations(ctx, org, projections.StatusFilter(domain.StatusPending), projections.PageRequest{Limit: 100})
				return answer(p, true, err)
			},
			func(ctx context.Context) (string, error) {
				p, err := q.Members(ctx, org, projections.PageRequest{Limit: 10})
				return answer(p, true, err)
			})
		for i := range 8 {
			id := fmt.Sprintf("01936f3e-%04x-7000-8000-%012x", o, i)
			ps = append(ps,
				func(ctx context.Context) (string, error) { return answer(q.Invitation(ctx, org, id)) },
				func(ctx context.Context) (string, error) {
					return token(q.InvitationByToken(ctx, domain.SHA256("token-"+id)))
				},
				func(ctx context.Context) (string, error) {
					return token(q.InvitationByToken(ctx, domain.SHA256("resent-"+id)))
				},
				func(ctx context.Context) (string, error) {
					return answer(q.Member(ctx, org, fmt.Sprintf("user-%d-%d", o, i)))
				})
		}
	}
	return ps
}

// A rebuild while the service writes and queries read: every answer is the
// right one before, during and after the switch, and the old generation is
// gone after it.
func TestRebuildUnderQueries(t *testing.T) {
	f := newFixture(t)
	fl := newFiller(t, f.url, f.service, f.keys.Signer)
	fl.fill(t, 4000)
	fl.wait(t)
	rs := newReadStore(t)
	startService(t, f, rs)

	now := time.Now()
	clock := func() time.Time { return now }
	ps := probes(projections.NewQueries(rs.store, clock), 5)
	want := make([]string, len(ps))
	for i, p := range ps {
		var err error
		if want[i], err = p(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Count(strings.Join(want, "\n"), "true") < len(ps)/2 {
		t.Fatalf("the probes find too little to prove anything:\n%s", strings.Join(want, "\n"))
	}

	consumers := map[string]bool{}
	for info := range f.stream.ListConsumers(t.Context()).Info() {
		consumers[info.Name] = true
	}

	var (
		stop               atomic.Bool
		answered, atSwitch atomic.Int64
		wrong              = make(chan string, 100)
		readers, writer    sync.WaitGroup
	)
	for range 4 {
		readers.Go(func() {
			// Queries of its own, as a replica's: they refuse a read store
			// whose checkpoint goes back, which a switch must not do either.
			ps := probes(projections.NewQueries(rs.store, clock), 5)
			for !stop.Load() {
				for i, p := range ps {
					if got, err := p(t.Context()); err != nil || got != want[i] {
						wrong <- fmt.Sprintf("probe %d: %q, %v; want %q", i, got, err, want[i])
						return
					}
					answered.Add(1)
				}
			}
		})
	}
	// New organizations keep coming, so that the rebuild has to catch up
	// with the service before it can switch.
	writer.Go(func() {
		for !stop.Load() {
			fl.fill(t, 100)
			fl.wait(t)
			time.Sleep(10 * time.Millisecond)
		}
	})

	var out, errOut testkit.Buffer
	err := run(append([]string{"rebuild", "--nats-url", f.url}, rs.flags()...), &out, &errOut)
	atSwitch.Store(answered.Load())
	time.Sleep(300 * time.Millisecond) // queries after the switch, and after the cleanup
	stop.Store(true)
	readers.Wait()
	writer.Wait()
	close(wrong)
	for w := range wrong {
		t.Error(w)
	}
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "rebuild: generation 1 is live") {
		t.Errorf("rebuild printed %q", out.String())
	}
	if bar := regexp.MustCompile(`rebuild \[={30}\] 100\.0% [0-9,]+/[0-9,]+ events  [0-9,]+/s  done`); !bar.MatchString(errOut.String()) {
		t.Errorf("no complete progress bar in %q", errOut.String())
	}
	t.Logf("%d answers before the end of the rebuild, %d after\n%s%s", atSwitch.Load(), answered.Load()-atSwitch.Load(), errOut.String(), out.String())
	if before, after := atSwitch.Load(), answered.Load()-atSwitch.Load(); before < int64(len(ps)) || after < int64(len(ps)) {
		t.Errorf("%d answers before the switch, %d after: want a round of probes each", before, after)
	}

	// Only the new generation is left, and it is right.
	for _, k := range rs.keys(t) {
		if !strings.HasPrefix(k, "g1:") && k != "generation" && k != "generation-seq" {
			t.Errorf("key %q left after the rebuild", k)
		}
	}
	waitFor(t, "the service to catch up", func() bool {
		cp, err := rs.store.Checkpoint(t.Context())
		return err == nil && cp == fl.seq
	})
	if out, err := f.try(append([]string{"verify"}, rs.flags()...)...); err != nil || out != "" {
		t.Errorf("verify after the rebuild: %q, %v", out, err)
	}
	// The service's consumers are the only ones.
	for info := range f.stream.ListConsumers(t.Context()).Info() {
		if !consumers[info.Name] {
			t.Errorf("consumer %s (durable %q) left on the stream", info.Name, info.Config.Durable)
		}
	}
}

// An interrupted rebuild leaves the live generation as it was and nothing of
// its own; a second run starts afresh and finishes.
func TestRebuildInterrupted(t *testing.T) {
	f := newFixture(t)
	fl := newFiller(t, f.url, f.service, f.keys.Signer)
	fl.fill(t, 20000)
	fl.wait(t)
	rs := newReadStore(t)
	if err := rs.project(t, f); err != nil {
		t.Fatal(err)
	}
	before := rs.keys(t)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		// Small batches: slow enough to be caught in the middle.
		done <- runContext(ctx, append([]string{"rebuild", "--nats-url", f.url, "--batch", "5"}, rs.flags()...), io.Discard, io.Discard)
	}()
	waitFor(t, "the rebuild to be under way", func() bool {
		n, _ := rs.client.Get(t.Context(), rs.prefix+"g1:checkpoint").Uint64()
		return n >= 1000
	})
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "generation 0 stays live, the partial generation 1 is deleted") {
		t.Fatalf("interrupted rebuild: %v", err)
	}
	before = append(before, "generation-seq")
	slices.Sort(before)
	if after := rs.keys(t); !slices.Equal(after, before) {
		t.Fatalf("keys after the interruption differ: %d keys before, %d after", len(before), len(after))
	}

	var out strings.Builder
	if err := run(append([]string{"rebuild", "--nats-url", f.url}, rs.flags()...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "generation 2 is live: 20,000 events projected") {
		t.Errorf("second rebuild printed %q", out.String())
	}
	if g, err := rs.store.Generation(t.Context()); g != 2 || err != nil {
		t.Errorf("live generation %d, %v; want 2", g, err)
	}
	if out, err := f.try(append([]string{"verify"}, rs.flags()...)...); err != nil || out != "" {
		t.Errorf("verify after the second rebuild: %q, %v", out, err)
	}
}

func TestRebuildLocked(t *testing.T) {
	f := newFixture(t)
	rs := newReadStore(t)
	r, err := redisstore.BeginRebuild(t.Context(), rs.client, rs.prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := f.try(append([]string{"rebuild", "--allow-empty"}, rs.flags()...)...); err == nil || !strings.Contains(err.Error(), "another rebuild is running") {
		t.Errorf("rebuild beside another: %v", err)
	}
	if _, err := f.try("rebuild"); err == nil || !strings.Contains(err.Error(), "--redis-url") {
		t.Errorf("rebuild without Redis: %v", err)
	}
}

// Events the service applies while the rebuild replays are caught up with
// before the switch: the new generation is never behind the live one.
func TestRebuildCatchesUp(t *testing.T) {
	f := newFixture(t)
	fl := newFiller(t, f.url, f.service, f.keys.Signer)
	fl.fill(t, 20000)
	fl.wait(t)
	rs := newReadStore(t)
	if err := rs.project(t, f); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var out, errOut testkit.Buffer
	go func() {
		done <- run(append([]string{"rebuild", "--nats-url", f.url, "--batch", "5"}, rs.flags()...), &out, &errOut)
	}()
	waitFor(t, "the rebuild to be under way", func() bool {
		n, _ := rs.client.Get(t.Context(), rs.prefix+"g1:checkpoint").Uint64()
		return n >= 100
	})
	fl.fill(t, 500)
	fl.wait(t)
	if err := rs.project(t, f); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("rebuild: %v\n%s", err, errOut.String())
	}
	if want := "rebuild: the live generation is at event 20500, the new one at 20000: catching up"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q lacks %q", errOut.String(), want)
	}
	if !strings.Contains(out.String(), "generation 1 is live: 20,500 events projected") {
		t.Errorf("rebuild printed %q", out.String())
	}
	if out, err := f.try(append([]string{"verify"}, rs.flags()...)...); err != nil || out != "" {
		t.Errorf("verify after the rebuild: %q, %v", out, err)
	}
}
