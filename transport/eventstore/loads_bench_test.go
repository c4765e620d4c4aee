package eventstore_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// benchEmails numbers the emails the create benchmarks invite.
var benchEmails atomic.Int64

var loadsStream = flag.Int("loads-stream", 1_000_000, "events of the big stream BenchmarkLoads fills")

// BenchmarkLoads loads aggregates, and creates invitations through the
// commands, on a stream holding only them and on one of -loads-stream
// events more, reporting the CPU of the whole process (the embedded server
// included) per operation:
//
//   - scan: as before issue 12, every load a batched next_by_subj over the
//     aggregate's wildcard filter, no cache;
//   - index: Load without a cache (multi_last, then earlier events by
//     sequence);
//   - cached: Load with the cache, warmed by a first load.
//
// The organization is registered before the filler events and the
// invitation created before them and accepted after: where a scan walks
// the most. The server does not fsync (reads do not), as in the fill.
func BenchmarkLoads(b *testing.B) {
	testkit.NeedsServers(b)
	for _, size := range []int{0, *loadsStream} {
		f := newLoadsFixture(b, size)
		for _, path := range []struct {
			name  string
			store func() commands.EventStore
		}{
			{"scan", func() commands.EventStore { return scanLoads{f.store(eventstore.WithCache(0))} }},
			{"index", func() commands.EventStore { return f.store(eventstore.WithCache(0)) }},
			{"cached", func() commands.EventStore { return f.store() }},
		} {
			for _, what := range []struct {
				name string
				id   domain.StreamID
			}{
				{"organization", f.org},
				{"invitation", f.invitation},
				{"none", domain.StreamID{Kind: domain.KindEmailSlot, OrganizationID: "acme", Key: domain.SHA256("nobody@example.com")}},
			} {
				b.Run(fmt.Sprintf("load-%s/%s/events=%d", what.name, path.name, size), func(b *testing.B) {
					s := path.store()
					load := func() {
						if _, _, err := s.Load(b.Context(), what.id); err != nil {
							b.Fatal(err)
						}
					}
					load()
					cpuPerOp(b, load)
				})
			}
			b.Run(fmt.Sprintf("create/%s/events=%d", path.name, size), func(b *testing.B) {
				h := commands.New(path.store(), f.personal(), testkit.NoReads{}, time.Now, testkit.NoObserver{})
				cpuPerOp(b, func() { create(b, h) })
			})
			// 64 creates at a time, as invitebench's 64 clients: the group
			// committer shares batches among them.
			b.Run(fmt.Sprintf("create-64/%s/events=%d", path.name, size), func(b *testing.B) {
				h := commands.New(path.store(), f.personal(), testkit.NoReads{}, time.Now, testkit.NoObserver{})
				b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
				cpuPerOpParallel(b, func() { create(b, h) })
			})
		}
	}
}

// create invites one new email to acme.
func create(b *testing.B, h *commands.Handlers) {
	_, err := h.CreateInvitations.Handle(b.Context(), commands.CreateInvitations{OrganizationID: "acme",
		Emails: []string{fmt.Sprintf("bench-%d@example.com", benchEmails.Add(1))}, Role: domain.RoleMember, ExpiresIn: time.Hour, Actor: "admin"})
	if err != nil {
		b.Error(err)
	}
}

// cpuPerOp runs op b.N times, reporting the process's CPU time per op.
func cpuPerOp(b *testing.B, op func()) {
	cpuPerRun(b, func() {
		for range b.N {
			op()
		}
	})
}

// cpuPerOpParallel runs op b.N times on the benchmark's parallel goroutines.
func cpuPerOpParallel(b *testing.B, op func()) {
	cpuPerRun(b, func() {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op()
			}
		})
	})
}

// cpuPerRun reports the process's CPU time during run, which does b.N
// operations, per operation.
func cpuPerRun(b *testing.B, run func()) {
	runtime.GC()
	before := processCPU(b)
	b.ResetTimer()
	run()
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scanLoads loads as the store did before issue 12: a scan of the
// aggregate's wildcard filter.
type scanLoads struct{ *eventstore.Store }

func (s scanLoads) Load(ctx context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	return eventstore.ScanAggregate(ctx, s.Store, id)
}

type loadsFixture struct {
	nats            *testkit.NATS
	keys            eventstore.Keys
	b               *testing.B
	org, invitation domain.StreamID
}

func (f *loadsFixture) store(opts ...eventstore.Option) *eventstore.Store {
	s, err := eventstore.New(f.nats.Connect(f.b, eventstore.RoleService), f.keys, opts...)
	if err != nil {
		f.b.Fatal(err)
	}
	return s
}

// personal is a key store on the fixture's server, as the service's commands have.
func (f *loadsFixture) personal() *keystore.Store {
	return testkit.KeyStore(f.b, f.nats.Connect(f.b, eventstore.RoleService))
}

// newLoadsFixture is a stream holding organization acme and its
// invitation, created before n filler events (organizations of 500
// invitations, each created with its email slot) and accepted after.
func newLoadsFixture(b *testing.B, n int) *loadsFixture {
	f := &loadsFixture{nats: testkit.StartNATS(b, false), keys: testkit.Keys(b), b: b}
	s := f.store(eventstore.WithCache(0))
	if err := eventstore.EnsureStream(b.Context(), s.JetStream(), 1); err != nil {
		b.Fatal(err)
	}
	write := func(payloads ...domain.Payload) {
		events := make([]domain.Event, len(payloads))
		expected := map[domain.StreamID]domain.Position{}
		for i, p := range payloads {
			events[i] = domain.NewEvent(fmt.Sprint("fixture-", i, "-", p.EventType()), now, p)
			_, pos, err := s.Load(b.Context(), domain.StreamOf(p))
			if err != nil {
				b.Fatal(err)
			}
			expected[domain.StreamOf(p)] = pos
		}
		if _, err := s.Append(b.Context(), events, expected); err != nil {
			b.Fatal(err)
		}
	}
	write(domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "admin"})
	// In revision 1's form, as the filler: what a load reads is the same.
	early := domain.InvitationCreated{OrganizationID: "acme", InvitationID: "early", Email: "ada@example.com", Role: domain.RoleMember,
		TokenSHA256: domain.SHA256("t"), ExpiresAt: now.Add(time.Hour), Actor: "admin"}
	write(early, domain.EmailReserved{OrganizationID: "acme", EmailSHA256: domain.SHA256(early.Email), InvitationID: early.InvitationID, Actor: "admin"})
	f.org, f.invitation = domain.StreamID{Kind: domain.KindOrganization, OrganizationID: "acme"}, domain.StreamOf(early)
	if n > 0 {
		start := time.Now()
		if err := fill(b.Context(), s.JetStream(), f.keys, n); err != nil {
			b.Fatal(err)
		}
		if last, err := s.LastSequence(b.Context()); err != nil || last != uint64(n+3) {
			b.Fatalf("the stream ends at %d (%v); want %d", last, err, n+3)
		}
		b.Logf("filled %d events in %v", n, time.Since(start).Round(time.Second))
		settle(b)
	}
	write(domain.InvitationAccepted{OrganizationID: "acme", InvitationID: early.InvitationID, UserID: "u-ada", Actor: "u-ada"},
		domain.MembershipAdded{OrganizationID: "acme", UserID: "u-ada", Email: early.Email, Role: early.Role, InvitationID: early.InvitationID, Actor: "u-ada"})
	return f
}

// settle waits, up to 30 s, until the server is done with what the fill
// left it to do (writing blocks out): until the process uses less than a
// tenth of a core for half a second, so that it is not measured.
func settle(b *testing.B) {
	for range 60 {
		before := processCPU(b)
		time.Sleep(500 * time.Millisecond)
		if processCPU(b)-before < 50*time.Millisecond {
			return
		}
	}
}

// fill publishes n events of other organizations, signed, asynchronously.
func fill(ctx context.Context, js jetstream.JetStream, keys eventstore.Keys, n int) error {
	for i := 0; i < n; {
		org := fmt.Sprintf("filler-%d", i/1000)
		id := fmt.Sprintf("filler-%d", i)
		email := id + "@example.com"
		for _, p := range []domain.Payload{
			domain.InvitationCreated{OrganizationID: org, InvitationID: id, Email: email, Role: domain.RoleMember,
				TokenSHA256: domain.SHA256(id), ExpiresAt: now.Add(time.Hour), Actor: "admin"},
			domain.EmailReserved{OrganizationID: org, EmailSHA256: domain.SHA256(email), InvitationID: id, Actor: "admin"},
		} {
			e := domain.NewEvent(fmt.Sprint("filler-event-", i), now, p)
			body, err := domain.MarshalCloudEvent(e)
			if err != nil {
				return err
			}
			for {
				_, err := js.PublishMsgAsync(eventstore.SignedMsg(keys.Signer, eventstore.Subject(e), body))
				if err == nil {
					break
				}
				if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
					return err
				}
				<-js.PublishAsyncComplete()
			}
			i++
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
