package main

import (
	"context"
	"testing"
	"time"
)

// A call slower than the whole window still gives every worker one measured
// call: the smoke test's 100ms steps once measured 0 creates at 2 clients.
func TestClosedLoopMeasuresACallSlowerThanTheWindow(t *testing.T) {
	const clients = 2
	res := closedLoop(context.Background(), clients, 20*time.Millisecond, func(ctx context.Context, worker int) error {
		time.Sleep(50 * time.Millisecond)
		return nil
	})
	if res.ops < clients {
		t.Fatalf("measured %d calls, want at least one a worker (%d)", res.ops, clients)
	}
	if res.rate() <= 0 {
		t.Fatalf("rate %v, want > 0", res.rate())
	}
}

func TestClosedLoopStopsAtTheWindow(t *testing.T) {
	calls := make([]int, 3)
	res := closedLoop(context.Background(), len(calls), 30*time.Millisecond, func(ctx context.Context, worker int) error {
		calls[worker]++
		time.Sleep(time.Millisecond)
		return nil
	})
	for w, n := range calls {
		// 33ms of 1ms calls: far fewer than a thousand, whatever the scheduler does.
		if n > 1000 {
			t.Errorf("worker %d made %d calls in a 30ms window", w, n)
		}
	}
	if res.ops == 0 {
		t.Fatal("nothing measured")
	}
}
