package httpapi

import (
	"context"
	"errors"
	"hash/maphash"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/invitesvc/invitesvc/domain"
)

// keyedLimiter is a token bucket per key (a client, an organization) for at
// most maxBuckets keys: past that the least recently used is forgotten, in
// constant time. The keys are spread over shards, each under its own lock,
// so that concurrent requests seldom wait for one another.
//
// golang.org/x/time/rate cannot serve here: a reservation cancelled once
// its time has passed gives nothing back, and the failure limiter gives a
// token back after the store has answered.
type keyedLimiter struct {
	perSecond, burst float64
	seed             maphash.Seed
	shards           [limiterShards]limiterShard
}

const (
	// maxBuckets bounds each limiter's memory (a bucket, its key and its
	// place in the LRU take about 200 bytes).
	maxBuckets    = 100_000
	limiterShards = 16
)

type limiterShard struct {
	mu      sync.Mutex
	buckets *simplelru.LRU[string, *bucket]
}

// bucket holds tokens as of at. held counts the tokens reserved by
// operations still running (FailureLimiter); settled is closed, and
// replaced, each time one of them ends, to wake who waits for it.
type bucket struct {
	tokens  float64
	at      time.Time
	held    int
	settled chan struct{}
}

func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	l := &keyedLimiter{perSecond: perSecond, burst: float64(burst), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets, _ = simplelru.NewLRU[string, *bucket](maxBuckets/limiterShards, nil)
	}
	return l
}

func (l *keyedLimiter) shard(key string) *limiterShard {
	return &l.shards[maphash.String(l.seed, key)%limiterShards]
}

// refill brings b up to now. A now before b's (clocks read outside the
// lock arrive out of order) adds nothing.
func (l *keyedLimiter) refill(b *bucket, now time.Time) {
	if now.After(b.at) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.perSecond)
		b.at = now
	}
}

// current is key's bucket as of now, a full one for a key not seen (or
// forgotten). s.mu is held.
func (l *keyedLimiter) current(s *limiterShard, key string, now time.Time) *bucket {
	b, found := s.buckets.Get(key)
	if !found {
		b = &bucket{tokens: l.burst, at: now}
		s.buckets.Add(key, b)
	}
	l.refill(b, now)
	return b
}

// until is how long until b holds n tokens (is full, for more than the burst).
func (l *keyedLimiter) until(b *bucket, n int) time.Duration {
	return time.Duration((min(float64(n), l.burst) - b.tokens) / l.perSecond * float64(time.Second))
}

// take spends n tokens of key's bucket, or, when it holds fewer, spends
// nothing and says how long until it holds them (or is full, for more than
// the burst).
func (l *keyedLimiter) take(key string, n int, now time.Time) (ok bool, wait time.Duration) {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := l.current(s, key, now)
	if b.tokens < float64(n) {
		return false, l.until(b, n)
	}
	b.tokens -= float64(n)
	return true, 0
}

// reserve takes one token of key's bucket for an operation that settles
// it later. When the bucket is empty only because of operations still
// running, it says so with a channel closed when one of them settles: their
// tokens may come back, so the caller may wait rather than be refused.
func (l *keyedLimiter) reserve(key string, now time.Time) (ok bool, wait time.Duration, settled <-chan struct{}) {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := l.current(s, key, now)
	if b.tokens >= 1 {
		b.tokens--
		b.held++
		return true, 0, nil
	}
	wait = l.until(b, 1)
	if b.held == 0 {
		return false, wait, nil
	}
	if b.settled == nil {
		b.settled = make(chan struct{})
	}
	return false, wait, b.settled
}

// settle ends a reservation of key, giving its token back when refund.
func (l *keyedLimiter) settle(key string, refund bool, now time.Time) {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, found := s.buckets.Peek(key)
	if !found {
		return // forgotten meanwhile: it would be full anyway
	}
	l.refill(b, now)
	if refund {
		b.tokens = min(l.burst, b.tokens+1)
	}
	b.held = max(b.held-1, 0)
	if b.settled != nil {
		close(b.settled)
		b.settled = nil
	}
}

func rateLimited(message string, wait time.Duration) *problem {
	return newProblem(http.StatusTooManyRequests, codeRateLimited, message).
		with("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
}

// FailureLimiter limits failed token look-ups and accepts per client (see
// clientKey), which is what guessing tokens produces. Successes cost nothing.
type FailureLimiter struct{ *keyedLimiter }

// NewFailureLimiter allows burst failures at once and perMinute afterwards.
func NewFailureLimiter(perMinute float64, burst int) *FailureLimiter {
	return &FailureLimiter{newKeyedLimiter(perMinute/60, burst)}
}

// limited runs a token-guessable operation under the failure limiter. A
// failure is reserved before op reads the store, so that concurrent guesses
// cannot outrun the burst, and given back unless op failed with a domain
// error (no such invitation, already accepted, ...). A client whose tokens
// are all reserved by its own operations still running waits for them to
// settle (at most maxSettleWait): the right token is not refused because
// many arrived at once. A client over its limit is refused even with the
// right token, so guessing never pays.
func (s *server) limited(r *http.Request, op func() error) error {
	client := s.clientKey(r)
	if err := s.reserveFailure(r.Context(), client); err != nil {
		return err
	}
	err := op()
	var de *domain.Error
	s.Limiter.settle(client, !errors.As(err, &de), s.Now())
	return err
}

// maxSettleWait bounds how long a request waits for the same client's
// operations to settle before it is refused.
const maxSettleWait = 2 * time.Second

func (s *server) reserveFailure(ctx context.Context, client string) error {
	ctx, cancel := context.WithTimeout(ctx, maxSettleWait)
	defer cancel()
	for {
		ok, wait, settled := s.Limiter.reserve(client, s.Now())
		if ok {
			return nil
		}
		if settled == nil {
			return rateLimited("Too many failed attempts from this address; retry later.", wait)
		}
		select {
		case <-settled:
		case <-ctx.Done():
			return rateLimited("Too many failed attempts from this address; retry later.", wait)
		}
	}
}

// InviteLimiter limits the invitations an organization creates per hour,
// against invite flooding. Each replica counts its own.
type InviteLimiter struct{ *keyedLimiter }

// NewInviteLimiter allows perHour invitations per organization and hour.
func NewInviteLimiter(perHour int) *InviteLimiter {
	return &InviteLimiter{newKeyedLimiter(float64(perHour)/3600, perHour)}
}

func (l *InviteLimiter) take(org string, n int, now time.Time) error {
	if ok, wait := l.keyedLimiter.take(org, n, now); !ok {
		return rateLimited("This organization has created too many invitations this hour; retry later.", wait)
	}
	return nil
}

// clientKey names the client a request is counted against: its IPv4
// address, or the /64 of its IPv6 address (one host commonly holds a whole
// /64, so counting its addresses one by one would count nothing).
func (s *server) clientKey(r *http.Request) string {
	addr, ok := s.clientAddress(r)
	if !ok {
		return r.RemoteAddr
	}
	if addr.Is6() {
		prefix, _ := addr.Prefix(64)
		return prefix.String()
	}
	return addr.String()
}

// clientAddress is the address of the client: the connection's peer, or,
// when that peer is a trusted proxy, the nearest address in X-Forwarded-For
// that is not one (a client can prepend anything to the header, so it is
// read from the right). IPv4-mapped addresses are IPv4.
func (s *server) clientAddress(r *http.Request) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	addr := peer.Addr().Unmap()
	if !s.trusted(addr) {
		return addr, true
	}
	forwarded := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(forwarded) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(forwarded[i]))
		if err != nil {
			break
		}
		if addr = hop.Unmap(); !s.trusted(addr) {
			break
		}
	}
	return addr, true
}

func (s *server) trusted(addr netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
