package service_test

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/redisserver"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// The attack of issue 10 on --nats-listen: an anonymous client, or one with
// the subscriber's credentials, publishing a forged membership.added that
// makes mallory an owner. NATS refuses both, and mallory is no member.
// The roles' seeds are kept in the data directory, mode 0600, across
// restarts.
func TestEmbeddedNATSRefusesForgedEvents(t *testing.T) {
	port, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://127.0.0.1:" + port
	s := startStack(t, "", func(c *service.Config) { c.NATSListen = "127.0.0.1:" + port })
	s.register("acme")
	users := s.svc.NATSUsers
	if users == nil || users.Keys != s.cfg.DataDir+"/nats" {
		t.Fatalf("NATS users %+v, want the seeds in %s/nats", users, s.cfg.DataDir)
	}
	seeds := map[eventstore.Role][]byte{}
	for _, r := range eventstore.Roles {
		path := eventstore.SeedFile(users.Keys, r)
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, info.Mode().Perm())
		}
		seeds[r], _ = os.ReadFile(path)
	}

	if nc, err := nats.Connect(url); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous connection on --nats-listen: %v, want an authorization violation", err)
	}
	s.restart()
	for r, seed := range seeds {
		if now, _ := os.ReadFile(eventstore.SeedFile(users.Keys, r)); !bytes.Equal(now, seed) {
			t.Errorf("the %s seed changed across a restart", r)
		}
	}

	opts, err := eventstore.Credentials{NKeyFile: eventstore.SeedFile(users.Keys, eventstore.RoleSubscriber)}.Options()
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan error, 1)
	nc, err := nats.Connect(url, append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case refused <- err:
		default:
		}
	}))...)
	if err != nil {
		t.Fatalf("the subscriber's seed kept across a restart: %v", err)
	}
	defer nc.Close()
	e := domain.NewEvent("forged", time.Now(), domain.MembershipAdded{OrganizationID: "acme", UserID: "mallory",
		Email: "mallory@example.com", Role: domain.RoleOwner, Actor: "mallory"})
	body, err := domain.MarshalCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(eventstore.Subject(e), body); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-refused:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("forged publish: %v, want a permission violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("forged publish: no permission violation")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), eventstore.StreamName)
	if err != nil {
		t.Fatalf("the subscriber's stream info: %v", err)
	}
	if n := stream.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("the stream holds %d events, want 1 (acme registered)", n)
	}
	members := s.do("GET", api+"/acme/members", s.admin, nil)
	for _, m := range members.list("members") {
		if m["user_id"] == "mallory" {
			t.Errorf("mallory is a member: %v", m)
		}
	}
}
