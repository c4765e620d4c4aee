package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/invitesvc/invitesvc/internal/service"
)

// webhookFlags adds the webhooks' flags (README "Webhooks") to fs, with
// c's values as their defaults.
func webhookFlags(fs *flag.FlagSet, c *service.WebhooksConfig) {
	fs.BoolVar(&c.AllowInsecure, "webhooks-allow-insecure", false, "webhook endpoints may be http and deliveries may reach any address (loopback, private, link-local, metadata): development and tests only")
	positive(fs, &c.Timeout, "webhooks-timeout", "how long a webhook delivery attempt may take, from the connection to the end of the answer (a 2xx in time is success)")
	positive(fs, &c.DisableAfter, "webhooks-disable-after", "an endpoint none of whose deliveries succeeded for this long is disabled (and that is recorded)")
	fs.Func("webhooks-rotation-overlap", "how long a rotated webhook secret keeps signing beside the new one (default "+c.RotationOverlap.String()+")", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 30*24*time.Hour {
			return fmt.Errorf("%q is not a duration from 0s to 720h", v)
		}
		c.RotationOverlap = d
		return nil
	})
	fs.Func("webhooks-retry-schedule", "comma-separated waits before each retry of a failed webhook delivery, after which it is given up (default "+
		schedule(c.Schedule)+")", func(v string) error {
		var waits []time.Duration
		for _, item := range splitList(v) {
			d, err := time.ParseDuration(item)
			if err != nil || d <= 0 {
				return fmt.Errorf("%q is not a positive duration", item)
			}
			waits = append(waits, d)
		}
		if len(waits) > 20 {
			return fmt.Errorf("at most 20 retries, not %d", len(waits))
		}
		c.Schedule = waits
		return nil
	})
}

// positive is a duration flag that refuses zero and negative values.
func positive(fs *flag.FlagSet, d *time.Duration, name, usage string) {
	def := *d
	fs.Func(name, fmt.Sprintf("%s (default %s)", usage, def), func(v string) error {
		p, err := time.ParseDuration(v)
		if err != nil || p <= 0 {
			return fmt.Errorf("%q is not a positive duration", v)
		}
		*d = p
		return nil
	})
}

func schedule(waits []time.Duration) string {
	parts := make([]string, len(waits))
	for i, w := range waits {
		parts[i] = w.String()
	}
	return strings.Join(parts, ",")
}
