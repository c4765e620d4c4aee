package service_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/service"
)

func TestAuditFeed(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		s.register("other")
		var emails []string
		for i := range 12 {
			emails = append(emails, fmt.Sprintf("u%d@example.com", i))
		}
		invs := s.invite(emails...)
		expect(t, s.do("POST", api+"/invitations/"+invs[0]["token"].(string)+"/_accept", s.invitee("user-0", "u0@example.com"), nil), http.StatusOK)

		// 1 registration + 12 created + accepted + membership added = 15, newest first.
		var seqs []float64
		var types []string
		path := api + "/acme/events?limit=10"
		for path != "" {
			r := s.do("GET", path, s.admin, nil)
			expect(t, r, http.StatusOK)
			for _, e := range r.list("events") {
				seqs = append(seqs, e["sequence"].(float64))
				types = append(types, e["type"].(string))
			}
			path, _ = r.body["links"].(map[string]any)["next"].(string)
		}
		if len(seqs) != 15 || !slices.IsSortedFunc(seqs, func(a, b float64) int { return int(b - a) }) {
			t.Fatalf("feed sequences %v", seqs)
		}
		if types[0] != "membership.added" || types[1] != "invitation.accepted" || types[14] != "organization.registered" {
			t.Fatalf("feed types %v", types)
		}
		if slices.Contains(types, "email.reserved") {
			t.Fatal("guard records in the audit feed")
		}
		accepted := s.do("GET", api+"/acme/events?type=invitation.accepted", s.admin, nil).list("events")
		if len(accepted) != 1 || accepted[0]["actor"] != "user-0" {
			t.Fatalf("type filter: %v", accepted)
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if got := s.do("GET", api+"/acme/events?since="+future, s.admin, nil).list("events"); len(got) != 0 {
			t.Fatalf("since filter: %d events", len(got))
		}
		if got := s.do("GET", api+"/acme/events?until="+future+"&limit=100", s.admin, nil).list("events"); len(got) != 15 {
			t.Fatalf("until filter: %d events", len(got))
		}
		expect(t, s.do("GET", api+"/acme/events?type=email.reserved", s.admin, nil), http.StatusBadRequest, "root.invalid_parameter")
		expect(t, s.do("GET", api+"/acme/events?since=yesterday", s.admin, nil), http.StatusBadRequest, "root.invalid_parameter")
		expect(t, s.do("GET", api+"/acme/events", s.token("r", "", map[string][]string{"acme": {"org.read"}}), nil), http.StatusForbidden, "root.forbidden")
		if got := s.do("GET", api+"/other/events", s.token("o", "", map[string][]string{"other": {"org.read", "org.user.read"}}), nil).list("events"); len(got) != 1 {
			t.Fatalf("another organization's feed holds %d events", len(got))
		}
	})
}
