package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// stepMemory measures memory per invitation: the memory store's heap bytes,
// Redis's used_memory, and the service process's RSS.
func (b *bench) stepMemory(ctx context.Context) error {
	n := b.cfg.memoryInvitations
	per100k := 100_000 / float64(n)

	// The memory store alone: the heap it holds after n invitations were
	// projected into it, garbage collected before and after.
	b.logf("  %d invitations into a memory store", n)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	store := projections.NewMemoryStore()
	if err := projectInvitations(ctx, store, n); err != nil {
		return err
	}
	after := heap()
	runtime.KeepAlive(store)
	perInv := (float64(after) - float64(before)) / float64(n)
	b.add("memory", "memory store, per invitation", valueMeasure("heap bytes", perInv, "bytes"), nil,
		fmt.Sprintf("runtime.MemStats.HeapAlloc after GC around projecting %d pending invitations (organizations of 500) into projections.NewMemoryStore", n),
		check{desc: "≤ 1 KiB", ok: perInv <= 1024})

	// Redis: used_memory around projecting the same into a Redis store.
	if b.cfg.remote() && b.cfg.redisURL == "" {
		b.logf("  Redis memory skipped: no --redis-url")
	} else {
		if err := b.ensureRedis(); err != nil {
			return err
		}
		b.logf("  %d invitations into a Redis store", n)
		prefix := b.prefix + "memory:"
		before, err := redisUsedMemory(ctx, b.rdb)
		if err != nil {
			return err
		}
		if err := projectInvitations(ctx, redisstore.New(b.rdb, prefix), n); err != nil {
			return err
		}
		after, err := redisUsedMemory(ctx, b.rdb)
		if err != nil {
			return err
		}
		used := float64(after - before)
		b.add("memory", "Redis read store, per 100,000 invitations", valueMeasure("used_memory", used*per100k/(1<<20), "MiB"), nil,
			fmt.Sprintf("INFO memory used_memory around projecting %d pending invitations: %.0f bytes an invitation", n, used/float64(n)))
		if _, err := deleteKeys(ctx, b.rdb, prefix); err != nil {
			return err
		}
	}

	// The service: RSS of this process around creating n invitations
	// through the HTTP API (100 a request). In-process, the process holds
	// the service, the embedded JetStream server and the load generator.
	if b.cfg.remote() {
		b.logf("  service RSS skipped: it is measured in-process")
		return nil
	}
	b.logf("  %d invitations created through the service", n)
	settle := func() (rss int64, heapInuse uint64, err error) {
		select {
		case <-time.After(b.cfg.memorySettle):
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
		runtime.GC() // twice: pooled buffers survive one collection
		runtime.GC()
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		rss, err = rssBytes()
		return rss, m.HeapInuse, err
	}
	var redisBefore int64
	if b.cfg.store == "redis" {
		var err error
		if redisBefore, err = redisUsedMemory(ctx, b.rdb); err != nil {
			return err
		}
	}
	rss0, heap0, err := settle()
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := b.invite(ctx, "ib-"+b.runID+"-memory", n, "m"); err != nil {
		return err
	}
	took := time.Since(start)
	rss1, heap1, err := settle()
	if err != nil {
		return err
	}
	if b.cfg.heapProfile != "" {
		if err := writeHeapProfile(b.cfg.heapProfile); err != nil {
			return err
		}
		b.logf("  heap profile: %s", b.cfg.heapProfile)
	}
	note := fmt.Sprintf("VmRSS of this process %s after the load, after GC and FreeOSMemory, around creating %d invitations in %s (POST of 100 emails, 4 clients); "+
		"the process holds the service, the embedded JetStream server (its per-subject index and its 5-minute duplicate window of message ids) and the load generator; Go heap in use grew by %.1f MiB per 100,000; read store %s",
		b.cfg.memorySettle, n, took.Round(time.Millisecond), (float64(heap1)-float64(heap0))*per100k/(1<<20), b.cfg.store)
	b.add("memory", "service process RSS, per 100,000 invitations", valueMeasure("VmRSS", float64(rss1-rss0)*per100k/(1<<20), "MiB"), nil, note)
	if b.cfg.store == "redis" {
		redisAfter, err := redisUsedMemory(ctx, b.rdb)
		if err != nil {
			return err
		}
		b.add("memory", "Redis used by the service, per 100,000 invitations", valueMeasure("used_memory", float64(redisAfter-redisBefore)*per100k/(1<<20), "MiB"), nil,
			"INFO memory used_memory around the same creates")
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// projectInvitations projects n pending invitations (invitation.created
// events, in organizations of 500) into store through a projector.
func projectInvitations(ctx context.Context, store projections.Store, n int) error {
	p := projections.NewProjector(store, projections.KeepSealed{}, quietLogger())
	now := time.Now()
	for i := range n {
		org := fmt.Sprintf("org-%d", i/500)
		e := createEvents(org, fmt.Sprintf("person.%d@invitebench.example", i), now)[0]
		if _, err := p.Project(ctx, []domain.Delivered{{Recorded: domain.Recorded{Event: e, Sequence: uint64(i + 1)}}}); err != nil {
			return err
		}
	}
	return nil
}
