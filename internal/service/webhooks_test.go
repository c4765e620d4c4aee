package service_test

import (
	"crypto/x509"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// webhookStack is the service delivering to receivers the test starts
// (trusted through pool), with retries in milliseconds.
func webhookStack(t *testing.T, pool *x509.CertPool, insecure bool) *stack {
	return startStack(t, "", func(c *service.Config) {
		c.Webhooks.AllowInsecure, c.Webhooks.RootCAs = insecure, pool
		c.Webhooks.Schedule = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	})
}

func TestWebhooksEndToEnd(t *testing.T) {
	testkit.NeedsServers(t)
	pool := x509.NewCertPool()
	rcv := testkit.StartReceiver(t, pool)
	s := webhookStack(t, pool, true)
	s.register("acme")
	hooks := api + "/acme/webhooks"

	created := s.do("POST", hooks, s.admin, map[string]any{"url": rcv.URL(), "events": []string{"invitation.created", "invitation.accepted"}, "description": "CRM"})
	expect(t, created, http.StatusCreated)
	id, secret := created.str("id"), created.str("secret")
	if !strings.HasPrefix(secret, "whsec_") || created.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %s (Cache-Control %q)", created.raw, created.header.Get("Cache-Control"))
	}
	rcv.Trust(secret)
	if got := s.do("GET", hooks+"/"+id, s.admin, nil); got.str("secret") != "" || got.str("url") != rcv.URL() {
		t.Fatalf("read: %s", got.raw)
	}
	if list := s.do("GET", hooks, s.admin, nil).list("webhooks"); len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("list: %v", list)
	}

	inv := s.invite("ada@example.com")[0]
	ada := s.invitee("user-ada", "ada@example.com")
	expect(t, s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", ada, nil), http.StatusOK)
	eventually(t, 15*time.Second, "created and accepted delivered", func() bool { return len(rcv.Applied()) == 2 })
	first := rcv.Body(rcv.Applied()[0])
	if !strings.Contains(first, `"type":"invitation.created"`) || strings.Contains(first, "ada@example.com") {
		t.Fatalf("the delivery is not the stored CloudEvent (sealed address): %s", first)
	}

	deliveries := s.do("GET", hooks+"/"+id+"/deliveries", s.admin, nil)
	expect(t, deliveries, http.StatusOK)
	attempts := deliveries.list("deliveries")
	if len(attempts) != 2 || attempts[0]["event_type"] != "invitation.accepted" || attempts[0]["outcome"] != "delivered" || attempts[0]["status"] != 204.0 {
		t.Fatalf("deliveries: %s", deliveries.raw)
	}
	replay := s.do("POST", hooks+"/"+id+"/deliveries/"+attempts[1]["delivery_id"].(string)+"/replay", s.admin, nil)
	expect(t, replay, http.StatusAccepted)
	eventually(t, 15*time.Second, "the replay sent", func() bool { return len(rcv.Requests()) == 3 })
	if r := rcv.Requests()[2]; r.WebhookID != rcv.Applied()[0] || len(r.VerifiedBy) != 1 {
		t.Fatalf("the replay: %+v", r)
	}

	rotated := s.do("POST", hooks+"/"+id+"/rotate-secret", s.admin, nil)
	expect(t, rotated, http.StatusOK)
	if rotated.str("secret") == secret || rotated.str("previous_secret_expires_at") == "" {
		t.Fatalf("rotate: %s", rotated.raw)
	}
	off := s.do("PATCH", hooks+"/"+id, s.admin, map[string]any{"enabled": false, "events": []string{"*"}})
	expect(t, off, http.StatusOK)
	if off.body["enabled"] != false || !slices.Equal(off.body["events"].([]any), []any{"*"}) {
		t.Fatalf("patch: %s", off.raw)
	}
	expect(t, s.do("POST", hooks+"/"+id+"/deliveries/"+attempts[1]["delivery_id"].(string)+"/replay", s.admin, nil), http.StatusConflict, "organization.webhook_disabled")

	expect(t, s.do("DELETE", hooks+"/"+id, s.admin, nil), http.StatusNoContent)
	expect(t, s.do("GET", hooks+"/"+id, s.admin, nil), http.StatusNotFound, "organization.webhook_not_found")
	expect(t, s.do("DELETE", hooks+"/"+id, s.admin, nil), http.StatusNoContent)
	if list := s.do("GET", hooks, s.admin, nil).list("webhooks"); len(list) != 0 {
		t.Fatalf("list after delete: %v", list)
	}
}

func TestWebhooksRefuseBadInput(t *testing.T) {
	testkit.NeedsServers(t)
	s := webhookStack(t, x509.NewCertPool(), false)
	s.register("acme")
	hooks := api + "/acme/webhooks"
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"url": "https://127.0.0.1/hooks", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://[::1]/hooks", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://10.0.0.1/hooks", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://169.254.169.254/latest/meta-data", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://localhost/hooks", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "http://hooks.example.com/", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://user:pw@hooks.example.com/", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://hooks.example.com/", "events": []string{"email.reserved"}}, "events"},
		{map[string]any{"url": "https://hooks.example.com/"}, "events"},
		{map[string]any{"url": "https://hooks.example.com/", "events": []string{"*"}, "secret": "mine"}, "secret"},
	} {
		r := s.do("POST", hooks, s.admin, tc.body)
		expect(t, r, http.StatusBadRequest, "root.invalid_parameter")
		if !slices.Contains(r.errorFields(), tc.field) {
			t.Errorf("%v: fields %v, want %s", tc.body, r.errorFields(), tc.field)
		}
	}
	expect(t, s.do("GET", hooks+"/not-a-uuid", s.admin, nil), http.StatusNotFound, "organization.webhook_not_found")
	expect(t, s.do("GET", api+"/nowhere/webhooks", s.token("x", "", map[string][]string{"nowhere": {auth.PermOrgAdmin}}), nil), http.StatusNotFound, "organization.not_found")
	reader := s.token("reader", "", map[string][]string{"acme": {auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite}})
	expect(t, s.do("GET", hooks, reader, nil), http.StatusForbidden, "root.forbidden")
}

func TestWebhooksAreIsolatedBetweenOrganizations(t *testing.T) {
	testkit.NeedsServers(t)
	s := webhookStack(t, x509.NewCertPool(), false)
	s.register("acme")
	s.register("globex")
	created := s.do("POST", api+"/acme/webhooks", s.admin, map[string]any{"url": "https://hooks.example.com/in", "events": []string{"*"}})
	expect(t, created, http.StatusCreated)
	id := created.str("id")
	globex := s.token("admin-globex", "", map[string][]string{"globex": {auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin}})
	acme := api + "/acme/webhooks/" + id
	through := api + "/globex/webhooks/" + id
	delivery := "/deliveries/01936f3e-0000-7000-8000-000000000002/replay"
	// With acme's path, globex's admin lacks the permission.
	for _, req := range [][2]string{{"GET", api + "/acme/webhooks"}, {"GET", acme}, {"PATCH", acme}, {"DELETE", acme}, {"POST", acme + "/rotate-secret"},
		{"GET", acme + "/deliveries"}, {"POST", acme + delivery}} {
		var body any
		if req[0] == "PATCH" {
			body = map[string]any{"enabled": false}
		}
		expect(t, s.do(req[0], req[1], globex, body), http.StatusForbidden, "root.forbidden")
	}
	// With its own organization in the path, acme's endpoint is none of its.
	for _, req := range [][2]string{{"GET", through}, {"PATCH", through}, {"DELETE", through}, {"POST", through + "/rotate-secret"},
		{"GET", through + "/deliveries"}, {"POST", through + delivery}} {
		var body any
		if req[0] == "PATCH" {
			body = map[string]any{"enabled": false}
		}
		expect(t, s.do(req[0], req[1], globex, body), http.StatusNotFound, "organization.webhook_not_found")
	}
	if list := s.do("GET", api+"/globex/webhooks", globex, nil).list("webhooks"); len(list) != 0 {
		t.Fatalf("globex lists %v", list)
	}
	if got := s.do("GET", acme, s.admin, nil); got.body["enabled"] != true {
		t.Fatalf("acme's endpoint changed: %s", got.raw)
	}
}
