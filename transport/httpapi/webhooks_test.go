package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/webhooks"
)

const testWebhookID = "0193a1f4-7c2e-7d3a-9b1e-0000000000aa"

// fakeWebhooks serves acme's one endpoint and records what it was asked.
type fakeWebhooks struct {
	hook    domain.Webhook
	created []commands.CreateWebhook
	err     error
}

func newFakeWebhooks() *fakeWebhooks {
	return &fakeWebhooks{hook: domain.Webhook{ID: testWebhookID, OrganizationID: "acme", URL: "https://hooks.example.com/in",
		Events: []string{"*"}, Enabled: true, SecretID: "s1", CreatedAt: testNow, UpdatedAt: testNow, Version: 1}}
}

func (f *fakeWebhooks) find(org, id string) (domain.Webhook, error) {
	if f.err != nil {
		return domain.Webhook{}, f.err
	}
	if org != f.hook.OrganizationID || id != f.hook.ID {
		return domain.Webhook{}, domain.ErrWebhookNotFound
	}
	return f.hook, nil
}

func (f *fakeWebhooks) Create(_ context.Context, cmd commands.CreateWebhook) (domain.Webhook, string, error) {
	f.created = append(f.created, cmd)
	if err := domain.CheckWebhookURL(cmd.Settings.URL); err != nil {
		return domain.Webhook{}, "", err
	}
	return f.hook, "whsec_" + strings.Repeat("A", 43) + "=", f.err
}

func (f *fakeWebhooks) List(context.Context, string) ([]domain.Webhook, error) {
	return []domain.Webhook{f.hook}, f.err
}

func (f *fakeWebhooks) Get(_ context.Context, org, id string) (domain.Webhook, error) {
	return f.find(org, id)
}

func (f *fakeWebhooks) Update(_ context.Context, cmd commands.UpdateWebhook) (domain.Webhook, error) {
	return f.find(cmd.OrganizationID, cmd.WebhookID)
}

func (f *fakeWebhooks) Delete(_ context.Context, cmd commands.DeleteWebhook) error {
	_, err := f.find(cmd.OrganizationID, cmd.WebhookID)
	return err
}

func (f *fakeWebhooks) RotateSecret(_ context.Context, cmd commands.RotateWebhookSecret) (domain.Webhook, string, error) {
	w, err := f.find(cmd.OrganizationID, cmd.WebhookID)
	return w, "whsec_" + strings.Repeat("B", 43) + "=", err
}

func (f *fakeWebhooks) Deliveries(_ context.Context, org, id string) ([]webhooks.Attempt, error) {
	_, err := f.find(org, id)
	return []webhooks.Attempt{{DeliveryID: testInvitationID, Attempt: 1, AttemptedAt: testNow, EventID: "e1", EventType: "invitation.created",
		EventSequence: 3, Outcome: "network", Error: "connection refused", Final: true}}, err
}

func (f *fakeWebhooks) Replay(_ context.Context, org, id, _ string) (webhooks.Replayed, error) {
	_, err := f.find(org, id)
	return webhooks.Replayed{DeliveryID: testInvitationID, EventID: "e1", EventType: "invitation.created", EventSequence: 3}, err
}

func TestWebhookRoutes(t *testing.T) {
	h := newHarness(t)
	admin := bearer(t, "org.admin")
	base := "/api/v1/organizations/acme/webhooks"
	tests := []struct {
		name, method, path, body string
		token                    string
		status                   int
		code                     string
	}{
		{"create", "POST", base, `{"url":"https://hooks.example.com/in","events":["*"]}`, admin, http.StatusCreated, ""},
		{"unknown field", "POST", base, `{"url":"https://hooks.example.com/in","events":["*"],"secret":"x"}`, admin, http.StatusBadRequest, "root.invalid_parameter"},
		{"events not a list", "POST", base, `{"url":"https://hooks.example.com/in","events":"*"}`, admin, http.StatusBadRequest, "root.malformed_request"},
		{"bad url", "POST", base, `{"url":"ftp://x","events":["*"]}`, admin, http.StatusBadRequest, "root.invalid_parameter"},
		{"no body", "POST", base, ``, admin, http.StatusBadRequest, "root.malformed_request"},
		{"list", "GET", base, ``, admin, http.StatusOK, ""},
		{"read", "GET", base + "/" + testWebhookID, ``, admin, http.StatusOK, ""},
		{"not a uuid", "GET", base + "/nope", ``, admin, http.StatusNotFound, "organization.webhook_not_found"},
		{"unknown endpoint", "GET", base + "/" + testInvitationID, ``, admin, http.StatusNotFound, "organization.webhook_not_found"},
		{"patch", "PATCH", base + "/" + testWebhookID, `{"enabled":false}`, admin, http.StatusOK, ""},
		{"delete", "DELETE", base + "/" + testWebhookID, ``, admin, http.StatusNoContent, ""},
		{"rotate", "POST", base + "/" + testWebhookID + "/rotate-secret", ``, admin, http.StatusOK, ""},
		{"deliveries", "GET", base + "/" + testWebhookID + "/deliveries", ``, admin, http.StatusOK, ""},
		{"replay", "POST", base + "/" + testWebhookID + "/deliveries/" + testInvitationID + "/replay", ``, admin, http.StatusAccepted, ""},
		{"replay of no uuid", "POST", base + "/" + testWebhookID + "/deliveries/nope/replay", ``, admin, http.StatusNotFound, "organization.webhook_delivery_not_found"},
		{"without org.admin", "GET", base, ``, bearer(t, "org.read", "org.user.read", "org.user.invite"), http.StatusForbidden, "root.forbidden"},
		{"another organization", "GET", "/api/v1/organizations/globex/webhooks/" + testWebhookID, ``,
			mint(t, auth.Claims{OrgPermissions: grant("globex", "org.admin")}), http.StatusNotFound, "organization.webhook_not_found"},
		{"no token", "GET", base, ``, "", http.StatusUnauthorized, "root.invalid_authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.serve(tt.method, tt.path, tt.token, tt.body)
			if res.Code != tt.status || (tt.code != "" && res.Header().Get("X-Error-Codes") != tt.code) {
				t.Fatalf("%d %s; want %d %s", res.Code, res.Body.String(), tt.status, tt.code)
			}
			secret := strings.Contains(res.Body.String(), `"secret":"whsec_`)
			if wants := tt.name == "create" || tt.name == "rotate"; secret != wants || (wants && res.Header().Get("Cache-Control") != "no-store") {
				t.Fatalf("secret shown %v, Cache-Control %q: %s", secret, res.Header().Get("Cache-Control"), res.Body.String())
			}
		})
	}
	if len(h.webhooks.created) != 2 || h.webhooks.created[0].Actor != "user-1" || h.webhooks.created[0].OrganizationID != "acme" {
		t.Fatalf("creates run: %+v", h.webhooks.created)
	}
}

func TestWebhookStoreFailuresAre503(t *testing.T) {
	h := newHarness(t)
	h.webhooks.err = domain.ErrUnavailable
	res := h.serve("GET", "/api/v1/organizations/acme/webhooks/"+testWebhookID, bearer(t, "org.admin"), "")
	if res.Code != http.StatusServiceUnavailable || res.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %s", res.Code, res.Body.String())
	}
}
