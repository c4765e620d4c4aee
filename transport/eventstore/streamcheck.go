package eventstore

import (
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamCheck is how the stream departs from the one the service requires.
type StreamCheck struct {
	// Drift lists settings that would let events be dropped or refused.
	Drift []string
	// Missing names the events already gone, empty when none is: the log
	// has lost history, which no setting brings back.
	Missing string
}

// OK reports whether the stream is as required.
func (c StreamCheck) OK() bool { return len(c.Drift) == 0 && c.Missing == "" }

func (c StreamCheck) String() string {
	problems := c.Drift
	if c.Missing != "" {
		problems = append([]string{c.Missing}, problems...)
	}
	return fmt.Sprint(problems)
}

// CheckStream compares what the server reports of INVITATIONS with
// StreamConfig: no limits, discard new, deny delete and purge, atomic
// publish, the duplicate window, the subjects; and that every event from
// sequence 1 to the last is still there.
func CheckStream(info *jetstream.StreamInfo) StreamCheck {
	var c StreamCheck
	got, want := info.Config, StreamConfig(info.Config.Replicas)
	drift := func(ok bool, format string, args ...any) {
		if !ok {
			c.Drift = append(c.Drift, fmt.Sprintf(format, args...))
		}
	}
	unlimited := func(n int64) bool { return n <= 0 }
	drift(unlimited(got.MaxMsgs), "max messages is %d, not unlimited", got.MaxMsgs)
	drift(unlimited(got.MaxBytes), "max bytes is %d, not unlimited", got.MaxBytes)
	drift(unlimited(got.MaxMsgsPerSubject), "max messages per subject is %d, not unlimited", got.MaxMsgsPerSubject)
	drift(got.MaxAge == 0, "max age is %s, not unlimited", got.MaxAge)
	drift(got.Retention == want.Retention, "retention is %s, not %s", got.Retention, want.Retention)
	drift(got.Discard == want.Discard, "discard policy is %s, not %s", got.Discard, want.Discard)
	drift(got.DenyDelete, "deleting events is allowed")
	drift(got.DenyPurge, "purging is allowed")
	drift(got.AllowAtomicPublish, "atomic publish is not allowed")
	drift(!got.Sealed, "the stream is sealed")
	drift(got.Duplicates == want.Duplicates, "duplicate window is %s, not %s", got.Duplicates, want.Duplicates)
	drift(slices.Equal(got.Subjects, want.Subjects), "subjects are %v, not %v", got.Subjects, want.Subjects)

	state := info.State
	switch {
	case state.LastSeq == 0:
	case state.FirstSeq > 1:
		c.Missing = fmt.Sprintf("events 1 to %d are missing", state.FirstSeq-1)
	case state.NumDeleted > 0 || state.Msgs != state.LastSeq-state.FirstSeq+1:
		c.Missing = fmt.Sprintf("%d of the events 1 to %d are missing", state.LastSeq-state.FirstSeq+1-state.Msgs, state.LastSeq)
	}
	return c
}
