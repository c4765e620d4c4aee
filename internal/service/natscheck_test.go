package service

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// TestCheckServerVersion: a server older than 2.12 (Debian's 2.9.10) is
// refused with its address, its version and what is missing; 2.12 and
// later, their release candidates included, pass.
func TestCheckServerVersion(t *testing.T) {
	for _, v := range []string{"2.9.10", "2.11.9", "2.2.0", "1.4.1", "", "v2.12.0", "banana"} {
		err := checkServerVersion("nats://127.0.0.1:4222", v)
		if err == nil {
			t.Errorf("version %q accepted", v)
			continue
		}
		for _, want := range []string{"nats://127.0.0.1:4222", `"` + v + `"`, ">= 2.12", "atomic batch publish"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("version %q: %q does not say %s", v, err, want)
			}
		}
	}
	for _, v := range []string{"2.12.0", "2.12.0-RC.1", "2.12.3", "2.13.0", "2.15.2", "3.0.0"} {
		if err := checkServerVersion("nats://x", v); err != nil {
			t.Errorf("version %q refused: %v", v, err)
		}
	}
}

// TestEmbeddedServerPassesTheGate: the version the gate reads is the one
// the embedded server (the nats-server module this builds with) reports.
func TestEmbeddedServerPassesTheGate(t *testing.T) {
	_, nc := testkit.JetStream(t)
	if got := nc.ConnectedServerVersion(); got != server.VERSION {
		t.Fatalf("connection reports version %q, the server module is %q", got, server.VERSION)
	}
	if err := checkServerVersion(nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion()); err != nil {
		t.Fatal(err)
	}
}

// TestAtomicPublishAllowed: a stream the server made without atomic batch
// publish (a node that does not know it) fails the start, naming it.
func TestAtomicPublishAllowed(t *testing.T) {
	info := &jetstream.StreamInfo{Config: eventstore.StreamConfig(1)}
	if err := atomicPublishAllowed(info, "2.15.2"); err != nil {
		t.Fatal(err)
	}
	info.Config.AllowAtomicPublish = false
	err := atomicPublishAllowed(info, "2.12.0")
	if err == nil || !strings.Contains(err.Error(), "atomic batch publish") || !strings.Contains(err.Error(), "2.12.0") {
		t.Fatalf("a stream without atomic publish: %v", err)
	}
}
