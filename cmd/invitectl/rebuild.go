package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

func rebuildCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newNATSFlags("rebuild [flags]", stderr)
	rf := addRedisFlags(fs)
	batch := fs.Int("batch", 1000, "writes sent to Redis per round trip")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	defer fastGC()()
	if rf.url == "" {
		return errors.New("give --redis-url or set INVITECTL_REDIS_URL")
	}
	r, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.close()
	personal, err := r.opener()
	if err != nil {
		return err
	}
	client, err := rf.open(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := rf.requireReadModels(ctx, client); err != nil {
		return err
	}
	rb, err := redisstore.BeginRebuild(ctx, client, rf.prefix)
	if err != nil {
		return err
	}
	defer rb.Close()
	fmt.Fprintf(stderr, "rebuild: building generation %d while generation %d serves\n", rb.Generation, rb.From)

	start := time.Now()
	events, buildErr := build(rb.Context(), r, personal, rb, *batch, stderr)
	took := time.Since(start)
	// After the switch this drops the old generation; after a failure or an
	// interruption, the new one, even once ctx is done.
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	deleted, err := rb.Cleanup(cleanupCtx)
	if buildErr != nil {
		if cause := context.Cause(rb.Context()); errors.Is(cause, redisstore.ErrLockLost) {
			buildErr = fmt.Errorf("%w: %w", buildErr, cause)
		}
		return errors.Join(fmt.Errorf("%w; generation %d stays live, the partial generation %d is deleted (%d keys): run rebuild again",
			buildErr, rb.From, rb.Generation, deleted), err)
	}
	if err != nil {
		return fmt.Errorf("switched to generation %d, but the old keys are not all deleted (%d were), the next rebuild will: %w", rb.Generation, deleted, err)
	}
	fmt.Fprintf(stdout, "rebuild: generation %d is live: %s events projected in %s (%s events/s); %s keys of older generations deleted\n",
		rb.Generation, thousands(events), took.Round(time.Millisecond), thousands(uint64(float64(events)/max(took.Seconds(), 1e-9))), thousands(uint64(deleted)))
	return nil
}

// build replays the stream into the rebuild's generation with the service's
// projector, then tails the stream until the generation has every event the
// live one has, and switches. It returns the number of events projected.
func build(ctx context.Context, r *reader, personal projections.PersonalData, rb *redisstore.Rebuild, batch int, stderr io.Writer) (uint64, error) {
	loader := redisstore.NewLoader(rb.Store(), batch)
	projector := projections.NewProjector(loader, personal, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	last := r.stream.CachedInfo().State.LastSeq
	bar := newProgress(stderr, "rebuild", last)
	project := func(from, to uint64) error {
		if from > to {
			return nil
		}
		err := r.readRaw(ctx, query{fromSeq: from, toSeq: to, follow: true}, func(m message) error {
			if _, err := projector.Project(ctx, []domain.Delivered{domain.DecodeDelivered(m.seq, m.subject, m.data)}); err != nil {
				return err
			}
			bar.add(1)
			return nil
		})
		if err == nil {
			err = ctx.Err() // a following read ends without an error when interrupted
		}
		if err != nil {
			return err
		}
		return loader.Flush(ctx)
	}
	if err := project(1, last); err != nil {
		return bar.done, err
	}
	bar.finish()
	for {
		switched, live, built, err := rb.Switch(ctx)
		if err != nil || switched {
			return bar.done, err
		}
		// The service applied more meanwhile: catch up with it, and try again.
		fmt.Fprintf(stderr, "rebuild: the live generation is at event %d, the new one at %d: catching up\n", live, built)
		if err := project(built+1, live); err != nil {
			return bar.done, err
		}
	}
}
