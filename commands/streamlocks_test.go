package commands

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

func stream(key string) domain.StreamID {
	return domain.StreamID{Kind: domain.KindInvitation, OrganizationID: "acme", Key: key}
}

// entries is how many streams have a lock entry, held or waited for.
func (l *streamLocks) entries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.locks)
}

// Goroutines that lock overlapping sets of streams, each set in its own
// random order, are never two inside one stream at once, never deadlock,
// and leave no entry behind.
func TestStreamLocksExcludeWithoutDeadlock(t *testing.T) {
	l := newStreamLocks()
	keys := []domain.StreamID{stream("a"), stream("b"), stream("c"), stream("d"), {Kind: domain.KindEmailSlot, OrganizationID: "acme", Key: "a"}}
	inside := make([]atomic.Int32, len(keys))
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 50 {
				picked := rand.Perm(len(keys))[:1+rand.IntN(len(keys))]
				ids := make([]domain.StreamID, len(picked))
				for i, k := range picked {
					ids[i] = keys[k]
				}
				unlock, err := l.lock(t.Context(), append(ids, ids[0])) // a repeat is locked once
				if err != nil {
					t.Error(err)
					return
				}
				for _, k := range picked {
					if n := inside[k].Add(1); n != 1 {
						t.Errorf("%d holders of %v", n, keys[k])
					}
				}
				for _, k := range picked {
					inside[k].Add(-1)
				}
				unlock()
			}
		})
	}
	wg.Wait()
	if n := l.entries(); n != 0 {
		t.Fatalf("%d lock entries left", n)
	}
}

// A waiter whose context ends stops waiting at once, and holds nothing:
// not even the streams of its set it had taken already.
func TestStreamLocksGiveUpWithTheContext(t *testing.T) {
	l := newStreamLocks()
	unlockB, err := l.lock(t.Context(), []domain.StreamID{stream("b")})
	if err != nil {
		t.Fatal(err)
	}
	for name, ctx := range map[string]func() (context.Context, context.CancelFunc){
		"deadline passed": func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 20*time.Millisecond)
		},
		"client gone": func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := ctx()
			defer cancel()
			start := time.Now()
			// a comes before b: taken, then given back.
			if _, err := l.lock(ctx, []domain.StreamID{stream("b"), stream("a")}); err != ctx.Err() || err == nil {
				t.Fatalf("error %v; want the context's", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("gave up after %s", took)
			}
			quick, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			unlockA, err := l.lock(quick, []domain.StreamID{stream("a")})
			if err != nil {
				t.Fatalf("a still held by the waiter that gave up: %v", err)
			}
			unlockA()
		})
	}
	unlockB()
	if n := l.entries(); n != 0 {
		t.Fatalf("%d lock entries left", n)
	}
}

// Every stream ever locked is forgotten once unlocked: memory does not grow
// with the number of aggregates written.
func TestStreamLocksForgetUnusedStreams(t *testing.T) {
	l := newStreamLocks()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				unlock, err := l.lock(t.Context(), []domain.StreamID{stream(fmt.Sprint(w, "-", i)), stream(fmt.Sprint(i % 7))})
				if err != nil {
					t.Error(err)
					return
				}
				unlock()
			}
		})
	}
	wg.Wait()
	if n := l.entries(); n != 0 {
		t.Fatalf("%d lock entries left after 16,000 commands", n)
	}
}

// The sleep before each retry is drawn from zero to retryBase doubled per
// try, capped at retryCap: full jitter, and bounded.
func TestBackoffIsFullJitterCapped(t *testing.T) {
	total := time.Duration(0)
	for try := 1; try < maxAttempts; try++ {
		bound := min(retryCap, retryBase<<(try-1))
		total += bound
		var highest time.Duration
		for range 1000 {
			d := backoff(try)
			if d < 0 || d >= bound {
				t.Fatalf("try %d slept %s; want within [0, %s)", try, d, bound)
			}
			highest = max(highest, d)
		}
		if highest < bound/2 {
			t.Errorf("try %d: 1000 draws all under %s of [0, %s): not spread", try, highest, bound)
		}
	}
	if total > 400*time.Millisecond {
		t.Fatalf("the retries may sleep %s in all", total)
	}
}
