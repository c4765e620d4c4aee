package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/projections"
)

// TestCallApplied reads each kind of reply of a script call of ApplyBatch,
// without a Redis: a reply of the wrong shape is an error that says so,
// never a nil error wrapped ("%!w(<nil>)").
func TestCallApplied(t *testing.T) {
	failed := errors.New("connection reset")
	tests := []struct {
		name    string
		reply   any
		err     error
		applied int
		is      error  // the error wraps it
		text    string // the error says it
	}{
		{name: "all applied", reply: []any{int64(50), "ok"}, applied: 50},
		{name: "a gap stops the call", reply: []any{int64(3), "gap"}, applied: 3, is: projections.ErrGap},
		{name: "already applied", reply: []any{int64(0), "applied"}, is: projections.ErrAlreadyApplied},
		{name: "a version conflict", reply: []any{int64(7), "conflict"}, applied: 7, is: projections.ErrVersionConflict},
		{name: "a reply too long", reply: []any{int64(1), "ok", "extra"}, text: "unexpected reply [1 ok extra]"},
		{name: "an empty reply", reply: []any{}, text: "unexpected reply []"},
		{name: "not a list", reply: "OK", text: "redisstore: apply a batch: redis: unexpected type"},
		{name: "the call failed", err: failed, is: failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := redis.NewCmd(context.Background())
			cmd.SetVal(tt.reply)
			cmd.SetErr(tt.err)
			applied, err := callApplied(cmd)
			if applied != tt.applied {
				t.Errorf("applied %d, want %d", applied, tt.applied)
			}
			switch {
			case tt.is == nil && tt.text == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Errorf("error %v, want %v", err, tt.is)
			case tt.text != "" && (err == nil || !strings.Contains(err.Error(), tt.text)):
				t.Errorf("error %v, want one saying %q", err, tt.text)
			}
			if err != nil && strings.Contains(err.Error(), "%!") {
				t.Errorf("error %q is misformatted", err)
			}
		})
	}
}
