package httpapi

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// FailureLimiter limits failed token look-ups and accepts per client address,
// which is what guessing tokens produces. Successes cost nothing.
type FailureLimiter struct {
	perMinute float64
	burst     int

	mu      sync.Mutex
	clients map[string]*clientLimit
}

type clientLimit struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// NewFailureLimiter allows burst failures at once and perMinute afterwards.
func NewFailureLimiter(perMinute float64, burst int) *FailureLimiter {
	return &FailureLimiter{perMinute: perMinute, burst: burst, clients: map[string]*clientLimit{}}
}

func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (l *FailureLimiter) client(addr string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[addr]
	if !ok {
		if len(l.clients) > 100_000 {
			l.forgetIdle(now)
		}
		c = &clientLimit{limiter: rate.NewLimiter(rate.Limit(l.perMinute/60), l.burst)}
		l.clients[addr] = c
	}
	c.lastSeen = now
	return c.limiter
}

// forgetIdle drops clients whose bucket has long refilled.
func (l *FailureLimiter) forgetIdle(now time.Time) {
	for addr, c := range l.clients {
		if now.Sub(c.lastSeen) > 10*time.Minute {
			delete(l.clients, addr)
		}
	}
}

// check refuses a client that has no failures left.
func (l *FailureLimiter) check(r *http.Request, now time.Time) error {
	lim := l.client(clientAddress(r), now)
	if lim.TokensAt(now) >= 1 {
		return nil
	}
	wait := time.Duration((1 - lim.TokensAt(now)) / float64(lim.Limit()) * float64(time.Second))
	return newProblem(http.StatusTooManyRequests, codeRateLimited, "Too many failed attempts from this address; retry later.").
		with("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
}

// failed charges one failure to the client.
func (l *FailureLimiter) failed(r *http.Request, now time.Time) {
	l.client(clientAddress(r), now).AllowN(now, 1)
}
