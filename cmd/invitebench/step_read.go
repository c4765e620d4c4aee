package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// readSet is what the look-up and list steps read: invitations in one
// organization, made once.
type readSet struct {
	org    string
	tokens []string
}

func (b *bench) readSet(ctx context.Context) (*readSet, error) {
	if b.reads != nil {
		return b.reads, nil
	}
	org := "ib-" + b.runID + "-read"
	b.logf("  making %d invitations to read", b.cfg.readInvitations)
	invs, err := b.invite(ctx, org, b.cfg.readInvitations, "r")
	if err != nil {
		return nil, err
	}
	rs := &readSet{org: org}
	for _, inv := range invs {
		rs.tokens = append(rs.tokens, inv.Token)
	}
	b.reads = rs
	return rs, nil
}

func (b *bench) stepLookup(ctx context.Context) error {
	rs, err := b.readSet(ctx)
	if err != nil {
		return err
	}
	lookupURL := func(i int) string { return b.api + "/organizations/invitations/" + rs.tokens[i%len(rs.tokens)] }
	sample, err := b.call(ctx, http.MethodGet, lookupURL(0), "", nil, http.StatusOK, true)
	if err != nil {
		return err
	}
	return b.compareReads(ctx, "lookup", "token lookup", sample, func(ctx context.Context, w, i int) error {
		_, err := b.call(ctx, http.MethodGet, lookupURL(w*7919+i), "", nil, http.StatusOK, false)
		return err
	}, func(c int, m measure) []check {
		checks := []check{{desc: "ratio ≥ 0.6"}}
		if c == 64 {
			checks = append(checks, p99Check(m, 5*time.Millisecond))
		}
		return checks
	})
}

func (b *bench) stepList(ctx context.Context) error {
	rs, err := b.readSet(ctx)
	if err != nil {
		return err
	}
	url := b.api + "/organizations/" + rs.org + "/invitations?limit=" + strconv.Itoa(b.cfg.listLimit)
	sample, err := b.call(ctx, http.MethodGet, url, b.admin, nil, http.StatusOK, true)
	if err != nil {
		return err
	}
	return b.compareReads(ctx, "list", fmt.Sprintf("list page of %d", b.cfg.listLimit), sample, func(ctx context.Context, _, _ int) error {
		_, err := b.call(ctx, http.MethodGet, url, b.admin, nil, http.StatusOK, false)
		return err
	}, nil)
}

// compareReads measures a read of the service at each concurrency beside
// the trivial handler answering the same bytes, and beside a raw Redis GET of
// those bytes. targets gives the checks against the trivial handler (the
// ratio check's ok is filled in here).
func (b *bench) compareReads(ctx context.Context, step, what string, sample []byte, read func(ctx context.Context, worker, i int) error, targets func(c int, m measure) []check) error {
	b.trivial.answer(sample)
	key := b.prefix + "raw:" + step
	// Raw Redis is the baseline of the Redis read store (or of a running
	// service's, given --redis-url).
	haveRedis := false
	if b.cfg.remote() && b.cfg.redisURL != "" || !b.cfg.remote() && b.cfg.store == "redis" {
		if err := b.ensureRedis(); err != nil {
			return err
		}
		haveRedis = true
	}
	if haveRedis {
		if err := b.rdb.Set(ctx, key, sample, 0).Err(); err != nil {
			return err
		}
	}
	for _, c := range b.cfg.clients {
		counters := make([]int, c)
		svc := b.profiled(profileName(step, c), func() result {
			return closedLoop(ctx, c, b.cfg.duration, func(ctx context.Context, w int) error {
				counters[w]++
				return read(ctx, w, counters[w])
			})
		})
		trivial := closedLoop(ctx, c, b.cfg.duration, func(ctx context.Context, _ int) error {
			_, err := b.call(ctx, http.MethodGet, b.trivial.url+"/trivial", "", nil, http.StatusOK, false)
			return err
		})
		value, trivialM := rateMeasure("GET", svc), rateMeasure(fmt.Sprintf("trivial handler (same %d bytes)", len(sample)), trivial)
		var checks []check
		if targets != nil {
			checks = targets(c, value)
			for i := range checks {
				if checks[i].desc == "ratio ≥ 0.6" {
					checks[i] = ratioCheck(value, trivialM, 0.6)
				}
			}
		}
		name := fmt.Sprintf("%s, %d clients", what, c)
		b.add(step, name, value, &trivialM, errNote(svc, trivial), checks...)
		if !haveRedis {
			continue
		}
		raw := closedLoop(ctx, c, b.cfg.duration, func(ctx context.Context, _ int) error {
			return b.rdb.Get(ctx, key).Err()
		})
		rawM := rateMeasure("raw Redis GET (go-redis, same bytes)", raw)
		b.add(step, name+" (vs raw Redis)", value, &rawM, errNote(raw))
	}
	return nil
}
