package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Every command works as the auditor role (eventstore.AuditorPermissions,
// the fixture's invitectl user) and nothing more: invitectl writes nothing
// to the stream.
func TestPermissions(t *testing.T) {
	f := newFixture(t)
	f.append(t, domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme Corp", Actor: "admin"})
	f.append(t, created("acme", invA, "ada@example.com", time.Now().Add(time.Hour)), reserved("acme", invA, "ada@example.com"))
	rs := newReadStore(t)
	// Redis users with the documented ACLs: verify reads, rebuild writes.
	redisUser := func(name string, rules ...string) []string {
		name += "-" + strings.Trim(rs.prefix[len("invitectl:"):], ":")
		args := append([]any{"ACL", "SETUSER", name, "on", ">secret", "~" + rs.prefix + "*"}, toAny(rules)...)
		if err := rs.client.Do(t.Context(), args...).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.client.Do(context.Background(), "ACL", "DELUSER", name) })
		return []string{"--redis-url", strings.Replace(rs.url, "redis://", "redis://"+name+":secret@", 1), "--redis-prefix", rs.prefix}
	}
	reader := redisUser("verify", "+@read", "+@scripting", "+@connection", "-@write")
	writer := redisUser("rebuild", "+@read", "+@write", "+@scripting", "+@connection")

	for _, args := range [][]string{
		{"events"}, {"events", "--org", "acme"}, {"history", "acme", invA}, {"state", "acme", "--at", "2"}, {"stats"},
		{"verify"}, append([]string{"rebuild", "--allow-empty"}, writer...), append([]string{"verify"}, reader...),
	} {
		if out, err := f.try(args...); err != nil || args[0] == "verify" && out != "" {
			t.Errorf("invitectl %s as the auditor: %q, %v", strings.Join(args, " "), out, err)
		}
	}
	if _, err := f.try(append([]string{"rebuild"}, reader...)...); err == nil || !strings.Contains(err.Error(), "can't run this command") {
		t.Errorf("rebuild with verify's Redis user: %v", err)
	}
	if n := f.consumers(t); n != 0 {
		t.Errorf("%d consumers left", n)
	}

	// What the permissions keep invitectl from.
	opts, err := f.auditor.Options()
	if err != nil {
		t.Fatal(err)
	}
	cnc, err := nats.Connect(f.url, append(opts, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cnc.Close()
	js, err := jetstream.New(cnc, jetstream.WithDefaultTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for what, try := range map[string]func() error{
		"publish an event": func() error {
			_, err := js.Publish(t.Context(), "organizations.acme.renamed", []byte("{}"))
			return err
		},
		"create the service's durable consumer": func() error {
			_, err := js.CreateConsumer(t.Context(), eventstore.StreamName, jetstream.ConsumerConfig{Durable: "invitesvc-read-models"})
			return err
		},
		"delete the stream": func() error { return js.DeleteStream(t.Context(), eventstore.StreamName) },
		"purge the stream": func() error {
			s, err := js.Stream(t.Context(), eventstore.StreamName)
			if err == nil {
				err = s.Purge(t.Context())
			}
			return err
		},
	} {
		if err := try(); err == nil {
			t.Errorf("the auditor role lets invitectl %s", what)
		}
	}
}
