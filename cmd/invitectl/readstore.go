package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisFlags are the flags of the commands that read or write the read
// store, with the service's defaults.
type redisFlags struct {
	url, prefix string
}

func addRedisFlags(fs *flag.FlagSet) *redisFlags {
	f := &redisFlags{}
	fs.StringVar(&f.url, "redis-url", os.Getenv("INVITESVC_REDIS_URL"), "Redis holding the read models, as the service's --redis-url (default $INVITESVC_REDIS_URL)")
	prefix := os.Getenv("INVITESVC_REDIS_PREFIX")
	if prefix == "" {
		prefix = "invitesvc:"
	}
	fs.StringVar(&f.prefix, "redis-prefix", prefix, "prefix of the read store's keys, as the service's --redis-prefix ($INVITESVC_REDIS_PREFIX sets the default)")
	return f
}

// open connects to Redis and checks that it answers.
func (f *redisFlags) open(ctx context.Context) (*redis.Client, error) {
	opts, err := redis.ParseURL(f.url)
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to Redis at %s: %w", opts.Addr, err)
	}
	return c, nil
}

// fastGC trades memory for speed in the commands that decode the whole
// stream: at Go's default target a quarter of their CPU goes to collecting
// what JSON decoding leaves behind; at 400 about half the memory is garbage
// instead. GOGC, when set, wins. It returns the restoring of the old target.
func fastGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	old := debug.SetGCPercent(400)
	return func() { debug.SetGCPercent(old) }
}
