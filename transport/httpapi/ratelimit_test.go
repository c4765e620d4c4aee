package httpapi

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/projections"
)

// slowMisses answers every token look-up "no such token" after a pause, as
// a store across a network does: the window in which concurrent guesses
// could outrun a limiter that charges after the look-up.
type slowMisses struct{ Queries }

func (slowMisses) InvitationByToken(context.Context, string) (projections.TokenMatch, error) {
	time.Sleep(5 * time.Millisecond)
	return projections.TokenMatch{}, nil
}

// guess looks up a random token from the client at remote (host:port).
func (h *harness) guess(remote string) int {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/organizations/invitations/"+random(pathChars, 43), nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec.Code
}

// TestConcurrentGuessesCannotOutrunTheBurst sends 500 concurrent failed
// look-ups from one address: at most the burst (the service's default, 20)
// reach the store and answer 404, the rest 429. The limiter used to check
// before the look-up and charge after it, and let 227 of 500 through.
func TestConcurrentGuessesCannotOutrunTheBurst(t *testing.T) {
	const burst, guesses = 20, 500
	h := newHarness(t, func(d *Deps) {
		d.Limiter = NewFailureLimiter(10, burst)
		d.Queries = slowMisses{d.Queries}
	})
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	for range guesses {
		wg.Go(func() {
			status := h.guess("192.0.2.7:4000")
			mu.Lock()
			answers[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if answers[http.StatusNotFound] != burst || answers[http.StatusTooManyRequests] != guesses-burst {
		t.Fatalf("answers %v; want %d 404 and the rest 429", answers, burst)
	}
}

// slowHits finds the invitation of every token after a pause.
type slowHits struct {
	Queries
	match projections.TokenMatch
}

func (q slowHits) InvitationByToken(context.Context, string) (projections.TokenMatch, error) {
	time.Sleep(5 * time.Millisecond)
	return q.match, nil
}

// TestConcurrentRightTokensAreNotRefused sends 64 concurrent look-ups of a
// real token from one address (a backend calling for many users, a NAT),
// over a burst of 20: each reserves a failure, and those past the burst
// wait for the running ones to settle rather than answer 429. They were
// refused (44 of 64) when the reservation came in with the honest limiter.
func TestConcurrentRightTokensAreNotRefused(t *testing.T) {
	const burst, lookups = 20, 64
	limiter := NewFailureLimiter(10, burst)
	h := newHarness(t, func(d *Deps) {
		d.Limiter = limiter
		match := projections.TokenMatch{Found: true, Checkpoint: 7,
			Invitation:   projections.Invitation{Invitation: testInvitation(), Position: 7},
			Organization: projections.Organization{ID: "acme", Name: "Acme", CreatedAt: testNow.Add(-time.Hour)}}
		d.Queries = slowHits{d.Queries, match}
	})
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	for range lookups {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodGet, tokenPath, nil)
			req.RemoteAddr = "192.0.2.7:4000"
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, req)
			mu.Lock()
			answers[rec.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if answers[http.StatusOK] != lookups {
		t.Fatalf("answers %v; want all %d 200", answers, lookups)
	}
	for i := range burst {
		if ok, _, _ := limiter.reserve("192.0.2.7", testNow); !ok {
			t.Fatalf("reservation %d after the right tokens refused: successes cost failures", i+1)
		}
	}
}

// TestFailureLimiterKeys: IPv4 clients are counted by address (an
// IPv4-mapped IPv6 address as its IPv4 one), IPv6 clients by their /64,
// which one host commonly holds whole.
func TestFailureLimiterKeys(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Limiter = NewFailureLimiter(10, 3) })
	spend := func(remote string) {
		for range 3 {
			if status := h.guess(remote); status != http.StatusNotFound {
				t.Fatalf("a guess from %s within the burst answered %d", remote, status)
			}
		}
	}
	spend("[2001:db8:1:2::a]:4000")
	spend("192.0.2.7:4000")
	for remote, want := range map[string]int{
		"[2001:db8:1:2::a]:4001":                  http.StatusTooManyRequests,
		"[2001:db8:1:2:ffff:ffff:ffff:ffff]:4000": http.StatusTooManyRequests, // the same /64
		"[2001:db8:1:3::a]:4000":                  http.StatusNotFound,        // the next /64
		"[::ffff:192.0.2.7]:4000":                 http.StatusTooManyRequests, // IPv4-mapped
		"192.0.2.8:4000":                          http.StatusNotFound,
	} {
		if got := h.guess(remote); got != want {
			t.Errorf("a guess from %s answered %d, want %d", remote, got, want)
		}
	}
}

// buckets is how many keys l holds.
func (l *keyedLimiter) buckets() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.buckets.Len()
		s.mu.Unlock()
	}
	return n
}

// TestLimiterMemoryIsBounded: however many clients come, a limiter holds
// at most maxBuckets of them, forgetting the least recently used; a client
// seen recently is still counted. The limiter used to keep every key seen
// in the last two minutes, and to scan them all for each new one.
func TestLimiterMemoryIsBounded(t *testing.T) {
	l := NewFailureLimiter(10, 3)
	for range 3 {
		l.take("hot", 1, testNow)
	}
	for i := range maxBuckets / 2 {
		l.take("client-"+strconv.Itoa(i), 1, testNow)
	}
	if ok, _ := l.take("hot", 1, testNow); ok {
		t.Fatal("a client that spent its burst was forgotten while the limiter was half full")
	}
	for i := range 3 * maxBuckets {
		l.take("client-"+strconv.Itoa(i), 1, testNow)
	}
	if n := l.buckets(); n > maxBuckets || n < maxBuckets*9/10 {
		t.Fatalf("%d buckets after %d clients; want at most %d, and not far fewer", n, 3*maxBuckets, maxBuckets)
	}
}

// TestFailureIsGivenBackAfterSuccess: the token a look-up reserves comes
// back when it succeeds, however long the look-up took (a reservation of
// golang.org/x/time/rate cancelled after its time gives nothing back).
func TestFailureIsGivenBackAfterSuccess(t *testing.T) {
	l := NewFailureLimiter(1, 2)
	for range 5 {
		if ok, _, _ := l.reserve("ada", testNow); !ok {
			t.Fatal("a success cost a failure")
		}
		l.settle("ada", true, testNow.Add(10*time.Second))
	}
	l.take("ada", 1, testNow)
	l.take("ada", 1, testNow)
	if ok, wait := l.take("ada", 1, testNow); ok || wait != time.Minute {
		t.Fatalf("past the burst: allowed %v, wait %v; want a minute's wait", ok, wait)
	}
}

// BenchmarkFailureLimiterNewKey is the cost of a client not seen before
// when the limiter already holds maxBuckets of them.
func BenchmarkFailureLimiterNewKey(b *testing.B) {
	l := NewFailureLimiter(10, 20)
	for i := range maxBuckets + 1 {
		l.take("client-"+strconv.Itoa(i), 1, testNow)
	}
	i := maxBuckets + 1
	for b.Loop() {
		l.take("client-"+strconv.Itoa(i), 1, testNow)
		i++
	}
}

// BenchmarkFailureLimiterParallel is a look-up's cost to the limiter, a
// reserve and a settle, from many goroutines over many clients.
func BenchmarkFailureLimiterParallel(b *testing.B) {
	l := NewFailureLimiter(10, 20)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			key := keys[i%len(keys)]
			l.reserve(key, testNow)
			l.settle(key, true, testNow)
			i++
		}
	})
}
