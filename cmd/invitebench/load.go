package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"time"
)

// errExhausted ends a worker that has nothing left to do (an accept step
// that used every invitation made for it).
var errExhausted = errors.New("nothing left to do")

// result is what one measured load produced.
type result struct {
	ops      int           // operations that succeeded in the measured window
	errs     int           // operations that failed in it
	elapsed  time.Duration // from the window's start to the last measured completion
	lat      []time.Duration
	firstErr error
	// exhausted is set when the workers ran out of work before the window ended.
	exhausted bool
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// percentile is the nearest-rank percentile of the latencies (sorted).
func (r result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(r.lat)))) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func (r result) max() time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[len(r.lat)-1]
}

// warmupOf is the unmeasured start of a step: a tenth of it, at most 1s.
func warmupOf(d time.Duration) time.Duration { return min(d/10, time.Second) }

// closedLoop runs op from clients workers, each one call after the other, for
// warmup and then for d; only calls that start within d are measured, except
// that every worker makes at least one measured call, so a call slower than
// the window still gives a figure rather than none. A worker stops early when
// op returns errExhausted. Every loop is bounded by the deadline (and ctx).
func closedLoop(ctx context.Context, clients int, d time.Duration, op func(ctx context.Context, worker int) error) result {
	start := time.Now()
	from := start.Add(warmupOf(d))
	until := from.Add(d)
	type workerResult struct {
		ops, errs int
		last      time.Time
		lat       []time.Duration
		firstErr  error
		exhausted bool
	}
	out := make([]workerResult, clients)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			r := &out[w]
			r.lat = make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(until) && r.ops+r.errs > 0 {
					return
				}
				err := op(ctx, w)
				t1 := time.Now()
				if errors.Is(err, errExhausted) {
					r.exhausted = true
					return
				}
				if t0.Before(from) {
					continue
				}
				if t1.After(r.last) {
					r.last = t1
				}
				if err != nil {
					r.errs++
					if r.firstErr == nil {
						r.firstErr = err
					}
					continue
				}
				r.ops++
				r.lat = append(r.lat, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	var res result
	var last time.Time
	for _, r := range out {
		res.ops += r.ops
		res.errs += r.errs
		res.lat = append(res.lat, r.lat...)
		if res.firstErr == nil {
			res.firstErr = r.firstErr
		}
		res.exhausted = res.exhausted || r.exhausted
		if r.last.After(last) {
			last = r.last
		}
	}
	if !last.IsZero() {
		res.elapsed = last.Sub(from)
	}
	slices.Sort(res.lat)
	return res
}

// distribution sorts latencies measured some other way into a result.
func distribution(lat []time.Duration, elapsed time.Duration) result {
	slices.Sort(lat)
	return result{ops: len(lat), elapsed: elapsed, lat: lat}
}

// profiled runs load under a CPU profile written to --profile-dir/name.pprof,
// when --profile-dir is set.
func (b *bench) profiled(name string, load func() result) result {
	if b.cfg.profileDir == "" {
		return load()
	}
	if err := os.MkdirAll(b.cfg.profileDir, 0o755); err != nil {
		b.logf("  no profile: %v", err)
		return load()
	}
	path := filepath.Join(b.cfg.profileDir, name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		b.logf("  no profile: %v", err)
		return load()
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		b.logf("  no profile: %v", err)
		return load()
	}
	r := load()
	pprof.StopCPUProfile()
	b.logf("  profile: %s", path)
	return r
}

func profileName(step string, clients int) string { return fmt.Sprintf("%s-%d", step, clients) }
