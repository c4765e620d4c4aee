package service_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// TestStreamEditThatDropsHistory edits INVITATIONS with an operator's full
// rights to keep 5 messages, discarding old ones, as `nats stream edit
// --max-msgs 5 --discard old` does. Within the guard's period the service
// turns unready and refuses commands with 503, while queries answer. A
// restart onto the shrunk stream (whose settings start puts back) stays in
// a stable error state naming the missing events: unready, commands
// refused, no loop in the log.
func TestStreamEditThatDropsHistory(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	var logs testkit.Buffer
	s := startStack(t, "", func(c *service.Config) {
		c.NATSURL, c.Logger = ns.ClientURL(), slog.New(slog.NewJSONHandler(&logs, nil))
	})
	s.register("acme")
	invs := s.invite("a@example.com", "b@example.com", "c@example.com", "d@example.com")

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	stream, err := js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if c := eventstore.CheckStream(stream.CachedInfo()); !c.OK() {
		t.Fatalf("the stream as the service made it fails the check: %v", c)
	}
	cfg := stream.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 5, jetstream.DiscardOld
	start := time.Now()
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "unready after the edit", func() bool { return s.readyz() == http.StatusServiceUnavailable })
	t.Logf("unready %s after the edit", time.Since(start).Round(time.Millisecond))
	expect(t, s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"e@example.com"}}), http.StatusServiceUnavailable, "root.unavailable")
	expect(t, s.do("GET", api+"/acme/invitations/"+invs[0]["id"].(string), s.admin, nil), http.StatusOK)
	if !strings.Contains(s.metrics(), "invitesvc_stream_guard_tripped 1") {
		t.Error("the guard's metric does not say it tripped")
	}

	s.restart()
	readyz := s.readyzBody()
	if !strings.Contains(readyz, "events 1 to") || !strings.Contains(readyz, "missing") {
		t.Fatalf("readyz after the restart does not name the missing events: %q", readyz)
	}
	expect(t, s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"e@example.com"}}), http.StatusServiceUnavailable, "root.unavailable")
	before := strings.Count(logs.String(), "\n")
	time.Sleep(3 * time.Second)
	if grew := strings.Count(logs.String(), "\n") - before; grew > 2 {
		t.Fatalf("%d log lines in 3 s of a stable error state:\n%s", grew, logs.String())
	}
	if n := strings.Count(logs.String(), "gap before event"); n > 0 {
		t.Fatalf("the projection met the gap %d times", n)
	}
}
