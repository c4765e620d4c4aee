package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// redisFlags are the flags of the commands that read or write the read
// store, with the service's defaults.
type redisFlags struct {
	url, prefix string
	allowEmpty  bool
}

func addRedisFlags(fs *flag.FlagSet) *redisFlags {
	f := &redisFlags{}
	fs.StringVar(&f.url, "redis-url", env("REDIS_URL"), "Redis holding the read models, as the service's --redis-url (default $INVITECTL_REDIS_URL, else $INVITESVC_REDIS_URL)")
	prefix := env("REDIS_PREFIX")
	if prefix == "" {
		prefix = "invitesvc:"
	}
	fs.StringVar(&f.prefix, "redis-prefix", prefix, "prefix of the read store's keys, as the service's --redis-prefix ($INVITECTL_REDIS_PREFIX, else $INVITESVC_REDIS_PREFIX, sets the default)")
	fs.BoolVar(&f.allowEmpty, "allow-empty", false, "go on with a Redis that holds no read models under the prefix (a first rebuild into a new Redis); without it that is refused, as it is most likely not the service's")
	return f
}

// requireReadModels refuses a Redis in which the service has written
// nothing under the prefix, unless --allow-empty: there, verify would find
// nothing to compare and rebuild would fill a store nobody reads.
func (f *redisFlags) requireReadModels(ctx context.Context, client *redis.Client) error {
	if f.allowEmpty {
		return nil
	}
	cp, err := redisstore.New(client, f.prefix).Checkpoint(ctx)
	if err != nil {
		return err
	}
	if cp == 0 {
		return fmt.Errorf("no read models under the prefix %q in Redis at %s db %d: is that the service's --redis-url, and the prefix its --redis-prefix? "+
			"(--allow-empty goes on with it, e.g. to fill a new Redis)", f.prefix, client.Options().Addr, client.Options().DB)
	}
	return nil
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
