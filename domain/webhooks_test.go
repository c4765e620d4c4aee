package domain_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

const hookID = "0193c0de-0000-7000-8000-000000000001"

var (
	acme     = domain.Organization{ID: org, Name: "Acme", Version: 1}
	settings = domain.WebhookSettings{URL: "https://hooks.example.com/in", Events: []string{domain.TypeInvitationAccepted}, Enabled: true}
	hookMade = domain.WebhookCreated{OrganizationID: org, WebhookID: hookID, URL: settings.URL, Events: settings.Events, SecretID: "s1", Actor: "admin"}
)

// givenHook folds events into an endpoint, as the store would load it.
func givenHook(events ...domain.Payload) domain.Webhook {
	var w domain.Webhook
	for _, p := range events {
		w.Apply(domain.NewEvent("", now.Add(-time.Hour), p))
	}
	return w
}

func TestCreateWebhook(t *testing.T) {
	with := func(change func(*domain.WebhookSettings)) domain.WebhookSettings {
		s := settings
		change(&s)
		return s
	}
	tests := []struct {
		name     string
		org      domain.Organization
		settings domain.WebhookSettings
		want     domain.WebhookCreated
		fields   []string // of a refusal
		code     domain.Code
	}{
		{name: "created", org: acme, settings: settings, want: hookMade},
		{name: "every event", org: acme, settings: with(func(s *domain.WebhookSettings) { s.Events = []string{"*"} }),
			want: func() domain.WebhookCreated { c := hookMade; c.Events = []string{"*"}; return c }()},
		{name: "organization not registered", settings: settings, code: domain.CodeOrganizationNotFound},
		{name: "no events", org: acme, settings: with(func(s *domain.WebhookSettings) { s.Events = nil }), code: domain.CodeInvalidParameter, fields: []string{"events"}},
		{name: "unknown event", org: acme, settings: with(func(s *domain.WebhookSettings) { s.Events = []string{"email.reserved"} }), code: domain.CodeInvalidParameter, fields: []string{"events"}},
		{name: "repeated event", org: acme, settings: with(func(s *domain.WebhookSettings) {
			s.Events = []string{domain.TypeInvitationCreated, domain.TypeInvitationCreated}
		}), code: domain.CodeInvalidParameter, fields: []string{"events"}},
		{name: "star with others", org: acme, settings: with(func(s *domain.WebhookSettings) { s.Events = []string{"*", domain.TypeInvitationCreated} }), code: domain.CodeInvalidParameter, fields: []string{"events"}},
		{name: "userinfo", org: acme, settings: with(func(s *domain.WebhookSettings) { s.URL = "https://u:p@hooks.example.com/" }), code: domain.CodeInvalidParameter, fields: []string{"url"}},
		{name: "relative", org: acme, settings: with(func(s *domain.WebhookSettings) { s.URL = "/in" }), code: domain.CodeInvalidParameter, fields: []string{"url"}},
		{name: "ftp", org: acme, settings: with(func(s *domain.WebhookSettings) { s.URL = "ftp://hooks.example.com/" }), code: domain.CodeInvalidParameter, fields: []string{"url"}},
		{name: "no host", org: acme, settings: with(func(s *domain.WebhookSettings) { s.URL = "https:///in" }), code: domain.CodeInvalidParameter, fields: []string{"url"}},
		{name: "fragment", org: acme, settings: with(func(s *domain.WebhookSettings) { s.URL = "https://hooks.example.com/#x" }), code: domain.CodeInvalidParameter, fields: []string{"url"}},
		{name: "too long", org: acme, settings: with(func(s *domain.WebhookSettings) { s.URL = "https://hooks.example.com/" + strings.Repeat("a", 2048) }), code: domain.CodeInvalidParameter, fields: []string{"url"}},
		{name: "hidden character in description", org: acme, settings: with(func(s *domain.WebhookSettings) { s.Description = "a\u202eb" }), code: domain.CodeInvalidParameter, fields: []string{"description"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.CreateWebhook(tt.org, hookID, "s1", tt.settings, "admin")
			if tt.code == "" {
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			v := domain.Violations(err)
			if len(v) != 1 || v[0].Code != tt.code || !reflect.DeepEqual(v[0].Fields, tt.fields) {
				t.Fatalf("got %v; want %s %v", err, tt.code, tt.fields)
			}
		})
	}
}

func TestWebhookChanges(t *testing.T) {
	deleted := domain.WebhookDeleted{OrganizationID: org, WebhookID: hookID, Actor: "admin"}
	disabled := domain.WebhookDisabled{OrganizationID: org, WebhookID: hookID, Reason: domain.DisabledGone, Actor: domain.SystemActor}
	off := settings
	off.Enabled = false

	if u, err := domain.UpdateWebhook(givenHook(hookMade), settings, "admin"); u != nil || err != nil {
		t.Errorf("same settings: %+v, %v; want nothing decided", u, err)
	}
	if u, err := domain.UpdateWebhook(givenHook(hookMade), off, "admin"); err != nil || u == nil || u.Enabled {
		t.Errorf("disable by an admin: %+v, %v", u, err)
	}
	reenabled, err := domain.UpdateWebhook(givenHook(hookMade, disabled), settings, "admin")
	if err != nil || reenabled == nil {
		t.Fatalf("enable again: %+v, %v", reenabled, err)
	}
	if w := givenHook(hookMade, disabled, *reenabled); !w.Enabled || w.DisabledReason != "" || w.Version != 3 {
		t.Errorf("enabled again: %+v", w)
	}
	if _, err := domain.UpdateWebhook(givenHook(hookMade, deleted), settings, "admin"); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("update of a deleted endpoint: %v", err)
	}

	if d := domain.DisableWebhook(givenHook(hookMade), domain.DisabledGone, "410"); d == nil || d.Actor != domain.SystemActor {
		t.Errorf("disable: %+v", d)
	}
	if d := domain.DisableWebhook(givenHook(hookMade, disabled), domain.DisabledFailing, ""); d != nil {
		t.Errorf("disable twice: %+v", d)
	}

	if d, err := domain.DeleteWebhook(givenHook(hookMade), "admin"); err != nil || d == nil {
		t.Errorf("delete: %+v, %v", d, err)
	}
	if d, err := domain.DeleteWebhook(givenHook(hookMade, deleted), "admin"); err != nil || d != nil {
		t.Errorf("delete twice: %+v, %v; want nothing decided, no error", d, err)
	}
	if _, err := domain.DeleteWebhook(domain.Webhook{}, "admin"); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("delete of none: %v", err)
	}
}

func TestWebhookSecretRotation(t *testing.T) {
	r, err := domain.RotateWebhookSecret(givenHook(hookMade), "s2", 24*time.Hour, "admin", now)
	if err != nil || r.SecretID != "s2" || r.PreviousSecretID != "s1" || !r.PreviousExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("rotate: %+v, %v", r, err)
	}
	w := givenHook(hookMade, r)
	if got := w.SigningSecrets(now); !reflect.DeepEqual(got, []string{"s2", "s1"}) {
		t.Errorf("within the overlap: %v; want both", got)
	}
	if got := w.SigningSecrets(now.Add(24 * time.Hour)); !reflect.DeepEqual(got, []string{"s2"}) {
		t.Errorf("after the overlap: %v; want the new one alone", got)
	}
	again, _ := domain.RotateWebhookSecret(w, "s3", 24*time.Hour, "admin", now)
	if got := givenHook(hookMade, r, again).SigningSecrets(now); !reflect.DeepEqual(got, []string{"s3", "s2"}) {
		t.Errorf("rotated twice within the overlap: %v; want the last two", got)
	}
	if got := givenHook(hookMade).SigningSecrets(now); !reflect.DeepEqual(got, []string{"s1"}) {
		t.Errorf("never rotated: %v", got)
	}
}

func TestWebhookWants(t *testing.T) {
	all := hookMade
	all.Events = []string{"*"}
	tests := []struct {
		name      string
		hook      domain.Webhook
		eventType string
		want      bool
	}{
		{"subscribed", givenHook(hookMade), domain.TypeInvitationAccepted, true},
		{"not subscribed", givenHook(hookMade), domain.TypeInvitationCreated, false},
		{"star", givenHook(all), domain.TypeMembershipAdded, true},
		{"star leaves guards out", givenHook(all), domain.TypeEmailReserved, false},
		{"star leaves webhooks out", givenHook(all), domain.TypeWebhookCreated, false},
		{"disabled", givenHook(hookMade, domain.WebhookDisabled{OrganizationID: org, WebhookID: hookID, Reason: domain.DisabledGone}), domain.TypeInvitationAccepted, false},
		{"deleted", givenHook(hookMade, domain.WebhookDeleted{OrganizationID: org, WebhookID: hookID}), domain.TypeInvitationAccepted, false},
	}
	for _, tt := range tests {
		if got := tt.hook.Wants(tt.eventType); got != tt.want {
			t.Errorf("%s: Wants(%s) = %v", tt.name, tt.eventType, got)
		}
	}
}

func TestWebhookEventsRoundTrip(t *testing.T) {
	for _, p := range []domain.Payload{hookMade,
		domain.WebhookSecretRotated{OrganizationID: org, WebhookID: hookID, SecretID: "s2", PreviousSecretID: "s1", PreviousExpiresAt: now, Actor: "admin"}} {
		raw, err := domain.MarshalCloudEvent(domain.NewEvent("id-1", now, p))
		if err != nil {
			t.Fatal(err)
		}
		e, err := domain.UnmarshalCloudEvent(raw)
		if err != nil || !reflect.DeepEqual(e.Data, p) {
			t.Fatalf("%s: %+v, %v", p.EventType(), e.Data, err)
		}
		if !strings.Contains(string(raw), `"subject":"webhooks/`+hookID+`"`) {
			t.Errorf("%s: subject not the webhook's: %s", p.EventType(), raw)
		}
	}
}
