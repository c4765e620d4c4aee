package httpapi

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/invitesvc/invitesvc/domain"
)

// keyedLimiter is a token bucket per key (a client address, an organization).
type keyedLimiter struct {
	perSecond rate.Limit
	burst     int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	return &keyedLimiter{perSecond: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

func (l *keyedLimiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) > 100_000 {
			l.forgetIdle(now)
		}
		b = &bucket{limiter: rate.NewLimiter(l.perSecond, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	return b.limiter
}

// forgetIdle drops buckets that have long refilled.
func (l *keyedLimiter) forgetIdle(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.perSecond) * float64(time.Second))
	for key, b := range l.buckets {
		if now.Sub(b.lastSeen) > full {
			delete(l.buckets, key)
		}
	}
}

// take spends n tokens of key's bucket, or refuses with 429 and how long to
// wait, spending nothing.
func (l *keyedLimiter) take(key string, n int, now time.Time, message string) error {
	r := l.bucket(key, now).ReserveN(now, n)
	if !r.OK() {
		return rateLimited(message, time.Hour)
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return rateLimited(message, wait)
	}
	return nil
}

// check refuses when key has not even one token left.
func (l *keyedLimiter) check(key string, now time.Time, message string) error {
	lim := l.bucket(key, now)
	if tokens := lim.TokensAt(now); tokens < 1 {
		return rateLimited(message, time.Duration((1-tokens)/float64(lim.Limit())*float64(time.Second)))
	}
	return nil
}

func rateLimited(message string, wait time.Duration) *problem {
	return newProblem(http.StatusTooManyRequests, codeRateLimited, message).
		with("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
}

// FailureLimiter limits failed token look-ups and accepts per client address,
// which is what guessing tokens produces. Successes cost nothing.
type FailureLimiter struct{ *keyedLimiter }

// NewFailureLimiter allows burst failures at once and perMinute afterwards.
func NewFailureLimiter(perMinute float64, burst int) *FailureLimiter {
	return &FailureLimiter{newKeyedLimiter(perMinute/60, burst)}
}

const tooManyFailures = "Too many failed attempts from this address; retry later."

func (l *FailureLimiter) check(client string, now time.Time) error {
	return l.keyedLimiter.check(client, now, tooManyFailures)
}

// failed charges one failure to the client.
func (l *FailureLimiter) failed(client string, now time.Time) {
	l.bucket(client, now).AllowN(now, 1)
}

// limited runs a token-guessable operation under the failure limiter: a
// client over its limit is refused, and each failure is charged.
func (s *server) limited(r *http.Request, op func() error) error {
	client := s.clientAddress(r)
	if err := s.Limiter.check(client, s.Now()); err != nil {
		return err
	}
	err := op()
	var de *domain.Error
	if errors.As(err, &de) {
		s.Limiter.failed(client, s.Now())
	}
	return err
}

// InviteLimiter limits the invitations an organization creates per hour,
// against invite flooding. Each replica counts its own.
type InviteLimiter struct{ *keyedLimiter }

// NewInviteLimiter allows perHour invitations per organization and hour.
func NewInviteLimiter(perHour int) *InviteLimiter {
	return &InviteLimiter{newKeyedLimiter(float64(perHour)/3600, perHour)}
}

func (l *InviteLimiter) take(org string, n int, now time.Time) error {
	return l.keyedLimiter.take(org, n, now, "This organization has created too many invitations this hour; retry later.")
}

// clientAddress is the address of the client: the connection's peer, or,
// when that peer is a trusted proxy, the nearest address in X-Forwarded-For
// that is not one (a client can prepend anything to the header, so it is
// read from the right).
func (s *server) clientAddress(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !s.trusted(addr) {
		return addr.String()
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
	return addr.String()
}

func (s *server) trusted(addr netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
