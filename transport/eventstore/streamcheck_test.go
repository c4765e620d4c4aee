package eventstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

func TestCheckStream(t *testing.T) {
	intact := jetstream.StreamState{Msgs: 10, FirstSeq: 1, LastSeq: 10}
	tests := []struct {
		name        string
		edit        func(*jetstream.StreamConfig)
		state       jetstream.StreamState
		wantDrift   string // part of a drift entry; empty for none
		wantMissing string
	}{
		{"as created", func(*jetstream.StreamConfig) {}, intact, "", ""},
		{"empty", func(*jetstream.StreamConfig) {}, jetstream.StreamState{}, "", ""},
		{"unlimited as 0", func(c *jetstream.StreamConfig) { c.MaxMsgs, c.MaxBytes, c.MaxMsgsPerSubject = 0, 0, 0 }, intact, "", ""},
		{"max messages", func(c *jetstream.StreamConfig) { c.MaxMsgs = 5 }, intact, "max messages is 5", ""},
		{"max bytes", func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }, intact, "max bytes", ""},
		{"per subject", func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 1 }, intact, "per subject", ""},
		{"max age", func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }, intact, "max age", ""},
		{"discard old", func(c *jetstream.StreamConfig) { c.Discard = jetstream.DiscardOld }, intact, "discard policy", ""},
		{"interest retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }, intact, "retention", ""},
		{"delete allowed", func(c *jetstream.StreamConfig) { c.DenyDelete = false }, intact, "deleting", ""},
		{"purge allowed", func(c *jetstream.StreamConfig) { c.DenyPurge = false }, intact, "purging", ""},
		{"no atomic publish", func(c *jetstream.StreamConfig) { c.AllowAtomicPublish = false }, intact, "atomic", ""},
		{"sealed", func(c *jetstream.StreamConfig) { c.Sealed = true }, intact, "sealed", ""},
		{"duplicate window", func(c *jetstream.StreamConfig) { c.Duplicates = time.Second }, intact, "duplicate window", ""},
		{"subjects", func(c *jetstream.StreamConfig) { c.Subjects = c.Subjects[:1] }, intact, "subjects", ""},
		{"head dropped", func(*jetstream.StreamConfig) {}, jetstream.StreamState{Msgs: 5, FirstSeq: 6, LastSeq: 10}, "", "events 1 to 5 are missing"},
		{"all purged", func(*jetstream.StreamConfig) {}, jetstream.StreamState{Msgs: 0, FirstSeq: 11, LastSeq: 10}, "", "events 1 to 10 are missing"},
		{"holes", func(*jetstream.StreamConfig) {}, jetstream.StreamState{Msgs: 8, FirstSeq: 1, LastSeq: 10, NumDeleted: 2}, "", "2 of the events 1 to 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := eventstore.StreamConfig(1)
			tt.edit(&cfg)
			got := eventstore.CheckStream(&jetstream.StreamInfo{Config: cfg, State: tt.state})
			switch {
			case tt.wantDrift == "" && len(got.Drift) > 0, tt.wantDrift != "" && !strings.Contains(strings.Join(got.Drift, "; "), tt.wantDrift):
				t.Errorf("drift %q, want %q", got.Drift, tt.wantDrift)
			case tt.wantMissing == "" && got.Missing != "", !strings.Contains(got.Missing, tt.wantMissing):
				t.Errorf("missing %q, want %q", got.Missing, tt.wantMissing)
			}
			if got.OK() != (tt.wantDrift == "" && tt.wantMissing == "") {
				t.Errorf("OK() = %v for %+v", got.OK(), got)
			}
		})
	}
}
