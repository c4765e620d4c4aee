package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// TestReadStoreEmptiedAfterRestartIsRebuilt restarts the projection
// pipeline on a Redis store that holds every event, then empties Redis
// while no event arrives: the pipeline notices and rebuilds it from the
// stream by itself. (It once waited for the next write: the pipeline took
// only what it applied itself for what the store should hold, and after a
// restart with nothing new that was nothing.)
func TestReadStoreEmptiedAfterRestartIsRebuilt(t *testing.T) {
	_, nc := testkit.JetStream(t)
	signed := testkit.Keys(t)
	es, err := eventstore.New(nc, signed)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const events = 50
	for i := range events {
		e := domain.NewEvent(fmt.Sprintf("ev-%d", i), now, domain.InvitationCreated{OrganizationID: "acme", InvitationID: fmt.Sprintf("inv-%d", i),
			Email: fmt.Sprintf("p%d@example.com", i), Role: domain.RoleMember, TokenSHA256: domain.SHA256(fmt.Sprint(i)), ExpiresAt: now.Add(time.Hour), Actor: "admin"})
		if _, err := es.Append(t.Context(), []domain.Event{e}, map[domain.StreamID]domain.Position{domain.StreamOf(e.Data): {}}); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := redis.ParseURL(testkit.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	prefix := fmt.Sprintf("emptied-%d:", time.Now().UnixNano())
	store := redisstore.New(rdb, prefix)
	cfg := service.ProjectionConfig{JetStream: es.JetStream(), Store: store, Personal: projections.KeepSealed{}, Durable: "emptied-test", Keyring: signed.Keyring,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	checkpointReaches := func(what string) {
		t.Helper()
		eventually(t, 15*time.Second, what, func() bool {
			cp, err := store.Checkpoint(t.Context())
			return err == nil && cp == events
		})
	}

	first, err := service.StartProjections(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkpointReaches("the first run applies every event")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	restarted, err := service.StartProjections(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Close() })
	time.Sleep(500 * time.Millisecond) // the consumer is set up, nothing to deliver
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys of the store: %d, %v", len(keys), err)
	}
	if err := rdb.Del(context.Background(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	checkpointReaches("the emptied store is rebuilt with no new event to show the loss")
	if restarted.Refeeds() == 0 {
		t.Fatal("rebuilt without a refeed?")
	}
}
