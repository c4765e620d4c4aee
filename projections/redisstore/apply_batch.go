package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/projections"
)

// writesPerCall is how many writes one script call applies: enough to make
// the call's own cost small, few enough to keep Redis answering others.
const writesPerCall = 50

// ApplyBatch applies the writes in script calls of writesPerCall, all of
// them in one pipeline: one round trip for the batch.
func (s *Store) ApplyBatch(ctx context.Context, writes []projections.Write) (int, error) {
	var calls [][]any
	for i, w := range writes {
		args, err := applyArgs(w)
		if err != nil {
			return 0, err
		}
		if i%writesPerCall == 0 {
			calls = append(calls, make([]any, 0, writesPerCall*applyArity))
		}
		calls[len(calls)-1] = append(calls[len(calls)-1], args...)
	}
	return s.applyCalls(ctx, calls)
}

// applyCalls runs applyManyScript on each call's writes in one pipeline. It
// returns how many writes were applied and the verdict on the first refused;
// a refused write stops its call, and the calls after it are refused too.
func (s *Store) applyCalls(ctx context.Context, calls [][]any) (int, error) {
	if len(calls) == 0 {
		return 0, nil
	}
	cmds, err := s.pipeCalls(ctx, calls)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted or its scripts were flushed: load it, once.
		if err := applyManyScript.Load(ctx, s.client).Err(); err != nil {
			return 0, fmt.Errorf("redisstore: load the apply script: %w", err)
		}
		cmds, err = s.pipeCalls(ctx, calls)
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: apply a batch: %w", err)
	}
	applied := 0
	for _, cmd := range cmds {
		n, err := callApplied(cmd)
		applied += n
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// callApplied reads the reply of one call, {applied, verdict}: how many of
// its writes were applied, and the verdict on the one that stopped it.
func callApplied(cmd *redis.Cmd) (int, error) {
	reply, err := cmd.Slice()
	if err != nil {
		return 0, fmt.Errorf("redisstore: apply a batch: %w", err)
	}
	if len(reply) != 2 {
		return 0, fmt.Errorf("redisstore: apply a batch: unexpected reply %v", reply)
	}
	n, _ := reply[0].(int64)
	verdict, _ := reply[1].(string)
	return int(n), applyVerdict(verdict)
}

func (s *Store) pipeCalls(ctx context.Context, calls [][]any) ([]*redis.Cmd, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, args := range calls {
		cmds[i] = applyManyScript.EvalSha(ctx, pipe, []string{s.pointerKey()}, s.argv(append([]any{len(args) / applyArity}, args...)...)...)
	}
	_, err := pipe.Exec(ctx)
	return cmds, err
}
