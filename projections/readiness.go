package projections

import (
	"context"
	"fmt"
	"time"
)

// WaitCaughtUp reports whether store reaches seq within limit: whether the
// read models hold every event the stream had when asked.
func WaitCaughtUp(ctx context.Context, store Store, seq uint64, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		cp, err := store.Checkpoint(ctx)
		if err != nil {
			return unavailable(err)
		}
		if cp >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read models at event %d of %d", cp, seq)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
