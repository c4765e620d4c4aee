package service_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// TestConcurrentResendsAreNotAnOutage sends 16, then 64, resends of one
// invitation at once, to one replica and then spread over two: every
// answer is 200 or 409 root.concurrent_modification with Retry-After, never
// 503 (before, 8 of 16 were 503 root.unavailable "A backing store cannot be
// reached"), and the stream holds one invitation.resent per 200.
func TestConcurrentResendsAreNotAnOutage(t *testing.T) {
	t.Run("one replica", func(t *testing.T) {
		ns := startNATS(t, t.TempDir(), -1)
		s := startStack(t, "", func(c *service.Config) { c.NATSURL = ns.ClientURL() })
		s.register("acme")
		for _, n := range []int{16, 64} {
			inv := s.invite(fmt.Sprintf("resend-%d@example.com", n))[0]
			answers := concurrently(n, func(int) response { return s.resend(inv["id"].(string)) })
			wantResentOrContended(t, ns, inv["id"].(string), answers)
		}
	})
	t.Run("two replicas", func(t *testing.T) {
		ns := startNATS(t, t.TempDir(), -1)
		redisURL := testkit.Redis(t)
		key := testkit.KeyFile(t)
		kek := testkit.KEKFile(t) // and one key-encryption key
		shared := func(c *service.Config) {
			c.NATSURL = ns.ClientURL()
			c.RedisPrefix = "contention:"
			c.SigningKey, c.KEKFile = key, kek
		}
		replicas := []*stack{startStack(t, redisURL, shared), startStack(t, redisURL, shared)}
		replicas[0].register("acme")
		for _, n := range []int{16, 64} {
			inv := replicas[0].invite(fmt.Sprintf("resend-%d@example.com", n))[0]
			answers := concurrently(n, func(i int) response { return replicas[i%2].resend(inv["id"].(string)) })
			wantResentOrContended(t, ns, inv["id"].(string), answers)
		}
	})
}

func (s *stack) resend(id string) response {
	return s.do("POST", api+"/acme/invitations/"+id+"/resend", s.admin, map[string]any{})
}

// wantResentOrContended checks the answers to concurrent resends of one
// invitation against its invitation.resent events in JetStream.
func wantResentOrContended(t *testing.T, ns *server.Server, id string, answers []response) {
	t.Helper()
	ok, contended := 0, 0
	var tokens []string
	for _, r := range answers {
		switch {
		case r.status == http.StatusOK:
			ok++
			tokens = append(tokens, r.str("token"))
		case r.status == http.StatusConflict && slices.Equal(r.errorCodes(), []string{"root.concurrent_modification"}) && r.header.Get("Retry-After") == "1":
			contended++
		default:
			t.Errorf("answered %d %v %s; want 200, or 409 root.concurrent_modification with Retry-After", r.status, r.header, r.raw)
		}
	}
	if slices.Sort(tokens); len(slices.Compact(tokens)) != ok {
		t.Errorf("%d answers 200 gave %d distinct tokens", ok, len(tokens))
	}
	resent := subjectCount(t, ns, "invitations.acme."+id+".resent")
	t.Logf("%d resends at once: %d answered 200, %d 409; %d invitation.resent in the stream", len(answers), ok, contended, resent)
	if resent != uint64(ok) {
		t.Errorf("the stream holds %d invitation.resent for %d answers 200", resent, ok)
	}
	if ok == 0 {
		t.Error("no resend won")
	}
}

// subjectCount is how many events the stream holds on subject.
func subjectCount(t *testing.T, ns *server.Server, subject string) uint64 {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}
