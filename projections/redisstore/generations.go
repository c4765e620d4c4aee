package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	// ErrRebuildRunning means another rebuild holds the lock.
	ErrRebuildRunning = errors.New("redisstore: another rebuild is running")
	// ErrLockLost means the rebuild lock expired or was taken: the rebuild
	// must stop, it can no longer switch.
	ErrLockLost = errors.New("redisstore: the rebuild lost its lock")
)

// lockTTL is how long the lock outlives a rebuild that stopped renewing it
// (killed), and so how long a rerun may have to wait.
const lockTTL = 15 * time.Second

// Rebuild is a new generation being built while the live one serves, and the
// switch to it. Generation numbers are handed out once (a sequence beside the
// pointer), never reused: whatever a rebuild that lost its lock still
// writes lands in a generation nobody else builds or reads.
type Rebuild struct {
	client redis.UniversalClient
	prefix string
	token  string
	// Generation is the generation being built; From the live one when the
	// rebuild began.
	Generation, From uint64

	ctx     context.Context
	cancel  context.CancelCauseFunc
	renewer sync.WaitGroup
}

// beginScript takes the lock and hands out the next generation number.
// KEYS: 1 lock, 2 pointer, 3 sequence; ARGV: 1 token, 2 TTL in ms. It answers
// {generation, live generation}, or {-1, the lock's remaining ms}.
var beginScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {-1, redis.call('PTTL', KEYS[1])}
end
local live = tonumber(redis.call('GET', KEYS[2]) or '0')
local n = math.max(live, tonumber(redis.call('GET', KEYS[3]) or '0')) + 1
redis.call('SET', KEYS[3], n)
return {n, live}
`)

// BeginRebuild takes the rebuild lock, which it renews until Close, and
// hands out a new generation. The rebuild's work must run under Context,
// which ends if the lock is lost.
func BeginRebuild(ctx context.Context, client redis.UniversalClient, prefix string) (*Rebuild, error) {
	r := &Rebuild{client: client, prefix: prefix, token: rand.Text()}
	reply, err := beginScript.Run(ctx, client, []string{r.lockKey(), prefix + pointerSuffix, prefix + seqSuffix},
		r.token, lockTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: begin rebuild: %w", err)
	}
	if reply[0] < 0 {
		return nil, fmt.Errorf("%w (its lock expires in %s unless renewed)", ErrRebuildRunning,
			(time.Duration(reply[1]) * time.Millisecond).Round(time.Second))
	}
	r.Generation, r.From = uint64(reply[0]), uint64(reply[1])
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	r.renewer.Go(r.renew)
	return r, nil
}

func (r *Rebuild) lockKey() string { return r.prefix + lockSuffix }

// Context ends when the caller's does or when the lock is lost (its cause is
// then ErrLockLost).
func (r *Rebuild) Context() context.Context { return r.ctx }

// Store is the store of the generation being built.
func (r *Rebuild) Store() *Store { return New(r.client, r.prefix, InGeneration(r.Generation)) }

var (
	// renewScript extends the lock if it is still ours. KEYS: 1 lock; ARGV:
	// 1 token, 2 TTL in ms.
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`)
	// releaseScript deletes the lock if it is still ours.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)
)

// renew extends the lock every third of its TTL. It gives up when the lock
// is someone else's, or when it could not be extended for a whole TTL, since
// it may then have expired.
func (r *Rebuild) renew() {
	tick := time.NewTicker(lockTTL / 3)
	defer tick.Stop()
	renewed := time.Now()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		held, err := renewScript.Run(r.ctx, r.client, []string{r.lockKey()}, r.token, lockTTL.Milliseconds()).Bool()
		switch {
		case err == nil && held:
			renewed = time.Now()
		case err == nil || time.Since(renewed) >= lockTTL:
			r.cancel(ErrLockLost)
			return
		}
	}
}

// Close stops renewing the lock and releases it.
func (r *Rebuild) Close() error {
	r.cancel(context.Canceled)
	r.renewer.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := releaseScript.Run(ctx, r.client, []string{r.lockKey()}, r.token).Err(); err != nil {
		return fmt.Errorf("redisstore: release the rebuild lock: %w", err)
	}
	return nil
}

// switchScript makes the pinned generation live if it holds every event the
// live one holds, and the lock is still ours. KEYS: 1 pointer, 2 lock; ARGV
// from 3: token. It answers {verdict, live checkpoint, built checkpoint}.
var switchScript = newScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return {'lost', 0, 0} end
local liveGen = redis.call('GET', KEYS[1]) or '0'
local live = tonumber(redis.call('GET', genbase(liveGen) .. 'checkpoint') or '0')
local built = tonumber(redis.call('GET', base .. 'checkpoint') or '0')
if built < live then return {'behind', live, built} end
redis.call('SET', KEYS[1], gen)
return {'ok', live, built}
`)

// Switch makes the new generation live, in one script, if its checkpoint is
// at or past the live one's: from then on every query and every write of
// the service goes to it. An equal checkpoint means equal read models (the
// same projection of the same events); a later one is a store a little
// ahead, which a service's projector meets as events already applied.
// Switch reports false, and the two checkpoints, when the new generation is
// behind: feed it more and try again.
func (r *Rebuild) Switch(ctx context.Context) (switched bool, live, built uint64, err error) {
	s := r.Store()
	reply, err := switchScript.Run(ctx, r.client, []string{s.pointerKey(), r.lockKey()}, s.argv(r.token)...).Slice()
	if err != nil {
		return false, 0, 0, fmt.Errorf("redisstore: switch to generation %d: %w", r.Generation, err)
	}
	verdict, _ := reply[0].(string)
	live, built = uint64(reply[1].(int64)), uint64(reply[2].(int64))
	switch verdict {
	case "ok":
		return true, live, built, nil
	case "behind":
		return false, live, built, nil
	case "lost":
		return false, 0, 0, ErrLockLost
	}
	return false, 0, 0, fmt.Errorf("redisstore: switch: unexpected reply %v", reply)
}

// Cleanup deletes the keys of every generation up to the rebuild's own,
// except the live one: after a switch, the old live generation and whatever
// interrupted rebuilds left; without a switch, the rebuild's own. Later
// generations belong to later rebuilds and are never touched. It returns the
// number of keys deleted.
func (r *Rebuild) Cleanup(ctx context.Context) (int, error) {
	live, err := New(r.client, r.prefix).Generation(ctx)
	if err != nil {
		return 0, err
	}
	deleted := 0
	err = walk(ctx, r.client, r.prefix, func(page []storedKey) error {
		var doomed []string
		for _, k := range page {
			if k.gen <= r.Generation && k.gen != live {
				doomed = append(doomed, k.name)
			}
		}
		if len(doomed) == 0 {
			return nil
		}
		n, err := r.client.Unlink(ctx, doomed...).Result()
		deleted += int(n)
		return err
	})
	if err != nil {
		return deleted, fmt.Errorf("redisstore: delete old generations: %w", err)
	}
	return deleted, nil
}
