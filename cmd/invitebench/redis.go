package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/internal/redisserver"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// startRedisServer starts the private redis-server of a run that was given
// no --redis-url, its log in dir.
func startRedisServer(dir string) (*redisserver.Server, error) {
	r, err := redisserver.Start(dir, "")
	if errors.Is(err, redisserver.ErrNotInstalled) {
		return nil, fmt.Errorf("%w; or give --redis-url, or use --store memory --only create,accept,lookup,list,lag", err)
	}
	return r, err
}

// redisUsedMemory is INFO memory's used_memory: the bytes Redis allocated.
func redisUsedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.InfoMap(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	v, ok := info["Memory"]["used_memory"]
	if !ok {
		return 0, errors.New("INFO memory without used_memory")
	}
	return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
}

// deleteKeys deletes every key under prefix, a batch at a time, and returns
// how many it deleted.
func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) (int, error) {
	deleted := 0
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, redisstore.PrefixPattern(prefix), 1000).Result()
		if err != nil {
			return deleted, err
		}
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				return deleted, err
			}
			deleted += len(keys)
		}
		if cursor = next; cursor == 0 {
			return deleted, nil
		}
	}
}

// redisScriptMicros is the CPU time Redis has spent running scripts
// (EVALSHA and EVAL), from INFO commandstats.
func redisScriptMicros(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		for _, kv := range strings.Split(stats, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == "usec" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, err
				}
				total += n
			}
		}
	}
	return total, nil
}
