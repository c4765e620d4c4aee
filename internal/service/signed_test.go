package service_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// TestForgedEventIsNotProjected writes a membership.added for mallory as
// an owner straight into the stream, as anyone who can publish on it could,
// without the service's signature: it is not projected, the projection
// halts there without spinning, readiness names its sequence, and a command
// on its aggregate answers 503. Restarted with the sequence accepted, the
// projection steps over it, still without applying it.
func TestForgedEventIsNotProjected(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		ns := startNATS(t, t.TempDir(), -1)
		logs := &testkit.Buffer{}
		prefix := "forged" + strings.ReplaceAll(t.Name(), "/", ".") + ":"
		s := newStack(func(c *service.Config) {
			c.NATSURL, c.RedisPrefix = ns.ClientURL(), prefix
			c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		})
		s.register("acme")
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		mallory := fmt.Sprint("mallory-", time.Now().UnixNano())
		forged := domain.NewEvent("forged-"+mallory, time.Now(), domain.MembershipAdded{OrganizationID: "acme", UserID: mallory,
			Email: "mallory@example.com", Role: domain.RoleOwner, InvitationID: "none", Actor: mallory})
		body, err := domain.MarshalCloudEvent(forged)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := nc.RequestMsg(&nats.Msg{Subject: eventstore.Subject(forged), Data: body}, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ack struct{ Seq uint64 }
		if err := json.Unmarshal(reply.Data, &ack); err != nil || ack.Seq == 0 {
			t.Fatalf("publish: %s, %v", reply.Data, err)
		}

		named := fmt.Sprintf("event %d ", ack.Seq)
		eventually(t, 10*time.Second, "readyz 503 naming the forged event", func() bool {
			status, body := s.get("/readyz")
			return status == http.StatusServiceUnavailable && strings.Contains(body, named)
		})
		_, before := s.get("/metrics")
		time.Sleep(3 * time.Second) // a halted pipeline must not refeed in a loop
		_, metrics := s.get("/metrics")
		for _, want := range []string{
			`invitesvc_projection_unverified_events_total{projection="read-models"} 1`,
			fmt.Sprintf(`invitesvc_projection_halted_sequence{projection="read-models"} %d`, ack.Seq),
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if refeeds := metricLine(before, "invitesvc_projection_refeeds_total"); refeeds != metricLine(metrics, "invitesvc_projection_refeeds_total") {
			t.Errorf("refeeds went from %s to %s while halted", refeeds, metricLine(metrics, "invitesvc_projection_refeeds_total"))
		}
		if n := strings.Count(logs.String(), "projection halted"); n != 1 {
			t.Errorf("%d log lines about the halt, want 1", n)
		}
		members := s.do("GET", api+"/acme/members", s.admin, nil)
		if strings.Contains(fmt.Sprint(members.body), mallory) {
			t.Fatalf("the forged member is listed: %v", members.body)
		}
		expect(t, s.do("DELETE", api+"/acme/members/"+mallory, s.admin, nil), http.StatusServiceUnavailable, "root.unavailable")

		s.cfg.AcceptUnverified = []uint64{ack.Seq}
		s.restart()
		eventually(t, 10*time.Second, "ready once the operator accepted the event", func() bool { return s.readyz() == http.StatusOK })
		s.invite("after@example.com")
		members = s.do("GET", api+"/acme/members", s.admin, nil)
		if strings.Contains(fmt.Sprint(members.body), mallory) {
			t.Fatalf("the accepted forged member is listed: %v", members.body)
		}
		expect(t, s.do("DELETE", api+"/acme/members/"+mallory, s.admin, nil), http.StatusServiceUnavailable, "root.unavailable")
	})
}

// metricLine is the line of metrics starting with name.
func metricLine(metrics, name string) string {
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, name) {
			return line
		}
	}
	return ""
}
