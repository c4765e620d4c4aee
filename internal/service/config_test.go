package service

import (
	"log/slog"
	"testing"
	"time"
)

// TestWithDefaults: Start gives a zero replica count, failure rate or
// invitation limit DefaultConfig's value, and keeps whatever is set.
func TestWithDefaults(t *testing.T) {
	d := DefaultConfig()
	got := Config{}.withDefaults()
	if got.Replicas != d.Replicas || got.FailuresPerMinute != d.FailuresPerMinute || got.FailureBurst != d.FailureBurst ||
		got.InvitationsPerHour != d.InvitationsPerHour || got.EventCacheSize != d.EventCacheSize || got.Logger == nil || got.Now == nil {
		t.Fatalf("a zero config became %+v", got)
	}
	// The other zero values mean something: no fsync, no key prefix.
	if got.SyncAlways || got.RedisPrefix != "" || got.DataDir != "" {
		t.Fatalf("a zero config became %+v", got)
	}
	// A half-set rate takes both defaults, as before: a rate without a burst
	// (or the other way round) would refuse every failed attempt.
	if got := (Config{FailuresPerMinute: 99}).withDefaults(); got.FailuresPerMinute != d.FailuresPerMinute || got.FailureBurst != d.FailureBurst {
		t.Fatalf("a rate without a burst became %v, %v", got.FailuresPerMinute, got.FailureBurst)
	}
	logger := slog.New(slog.DiscardHandler)
	epoch := time.Unix(0, 0)
	set := Config{Replicas: 3, FailuresPerMinute: 1, FailureBurst: 2, InvitationsPerHour: 5, Logger: logger, Now: func() time.Time { return epoch }}
	got = set.withDefaults()
	if got.Replicas != 3 || got.FailuresPerMinute != 1 || got.FailureBurst != 2 || got.InvitationsPerHour != 5 || got.Logger != logger || !got.Now().Equal(epoch) {
		t.Fatalf("set values changed: %+v", got)
	}
}
