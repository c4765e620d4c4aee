package commands_test

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// secretBox is the secrets port as the handlers see it: what a bucket
// would hold, by endpoint and secret id. transport/webhooks tests the real
// bucket on JetStream.
type secretBox struct {
	mu      sync.Mutex
	secrets map[string]map[string][]byte // endpoint -> secret id -> secret
	failPut error
}

func (b *secretBox) Put(_ context.Context, _, webhookID, secretID string, secret []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failPut != nil {
		return b.failPut
	}
	if b.secrets[webhookID] == nil {
		b.secrets[webhookID] = map[string][]byte{}
	}
	b.secrets[webhookID][secretID] = secret
	return nil
}

func (b *secretBox) Destroy(_ context.Context, _, webhookID string, keep ...string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	maps.DeleteFunc(b.secrets[webhookID], func(id string, _ []byte) bool { return !slices.Contains(keep, id) })
	return nil
}

func (b *secretBox) ids(webhookID string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.secrets[webhookID]))
}

type webhookWorld struct {
	store    *recorder
	secrets  *secretBox
	clock    time.Time
	handlers *commands.WebhookHandlers
}

func newWebhookWorld(t *testing.T) *webhookWorld {
	store := &recorder{Memory: eventstore.NewMemory(testkit.Keys(t))}
	w := &webhookWorld{store: store, secrets: &secretBox{secrets: map[string]map[string][]byte{}}, clock: now}
	w.handlers = commands.NewWebhooks(store, w.secrets, &projection{events: store}, func() time.Time { return w.clock }, &observer{}, 24*time.Hour)
	if err := store.write(t.Context(), []domain.Payload{domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme", Actor: "admin"}}, before); err != nil {
		t.Fatal(err)
	}
	return w
}

var hookSettings = domain.WebhookSettings{URL: "https://hooks.example.com/in", Events: []string{domain.TypeInvitationAccepted}}

func TestCreateWebhookStoresItsSecretOutsideTheStream(t *testing.T) {
	w := newWebhookWorld(t)
	hook, secret, err := w.handlers.CreateWebhook.Handle(t.Context(), commands.CreateWebhook{OrganizationID: "acme", Settings: hookSettings, Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(raw) < 24 || len(raw) > 64 {
		t.Fatalf("secret %q: not whsec_ and 24 to 64 bytes of base64 (%v)", secret, err)
	}
	if !hook.Enabled || hook.URL != hookSettings.URL || hook.SecretID == "" || !domain.ValidWebhookID(hook.ID) {
		t.Fatalf("endpoint %+v", hook)
	}
	if got := w.secrets.ids(hook.ID); !slices.Equal(got, []string{hook.SecretID}) {
		t.Fatalf("secrets kept %v, want the endpoint's one", got)
	}
	events := w.store.all()
	created, ok := events[len(events)-1].Data.(domain.WebhookCreated)
	if !ok || created.SecretID != hook.SecretID {
		t.Fatalf("appended %+v", events[len(events)-1].Data)
	}
	for _, e := range events {
		raw, _ := domain.MarshalCloudEvent(e)
		if strings.Contains(string(raw), strings.TrimPrefix(secret, "whsec_")) {
			t.Fatalf("the secret is in the stream: %s", raw)
		}
	}
}

func TestCreateWebhookRefusals(t *testing.T) {
	w := newWebhookWorld(t)
	_, _, err := w.handlers.CreateWebhook.Handle(t.Context(), commands.CreateWebhook{OrganizationID: "globex", Settings: hookSettings, Actor: "admin"})
	if !errors.Is(err, domain.ErrOrganizationNotFound) {
		t.Errorf("unregistered organization: %v", err)
	}
	bad := hookSettings
	bad.Events = []string{"nope"}
	if _, _, err := w.handlers.CreateWebhook.Handle(t.Context(), commands.CreateWebhook{OrganizationID: "acme", Settings: bad}); len(domain.Violations(err)) != 1 {
		t.Errorf("unknown event type: %v", err)
	}
	w.secrets.failPut = domain.ErrUnavailable
	if _, _, err := w.handlers.CreateWebhook.Handle(t.Context(), commands.CreateWebhook{OrganizationID: "acme", Settings: hookSettings}); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("secrets out of reach: %v", err)
	}
	if n := len(w.store.all()); n != 1 {
		t.Errorf("%d events after refusals; want the registration alone", n)
	}
}

func TestRotateAndDeleteWebhookDestroySecrets(t *testing.T) {
	w := newWebhookWorld(t)
	ctx := t.Context()
	hook, first, err := w.handlers.CreateWebhook.Handle(ctx, commands.CreateWebhook{OrganizationID: "acme", Settings: hookSettings, Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	rotate := commands.RotateWebhookSecret{OrganizationID: "acme", WebhookID: hook.ID, Actor: "admin"}
	second, secret2, err := w.handlers.RotateWebhookSecret.Handle(ctx, rotate)
	if err != nil || secret2 == first || second.PreviousSecretID != hook.SecretID || !second.PreviousSecretExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("rotate: %+v %v", second, err)
	}
	if got := w.secrets.ids(hook.ID); !slices.Equal(got, slices.Sorted(slices.Values([]string{hook.SecretID, second.SecretID}))) {
		t.Fatalf("after a rotation: %v; want both", got)
	}
	third, _, err := w.handlers.RotateWebhookSecret.Handle(ctx, rotate)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.secrets.ids(hook.ID); !slices.Equal(got, slices.Sorted(slices.Values([]string{second.SecretID, third.SecretID}))) {
		t.Fatalf("after two rotations: %v; want the last two", got)
	}

	del := commands.DeleteWebhook{OrganizationID: "acme", WebhookID: hook.ID, Actor: "admin"}
	if err := w.handlers.DeleteWebhook.Handle(ctx, del); err != nil {
		t.Fatal(err)
	}
	if got := w.secrets.ids(hook.ID); len(got) != 0 {
		t.Fatalf("deleted, secrets %v kept", got)
	}
	n := len(w.store.all())
	if err := w.handlers.DeleteWebhook.Handle(ctx, del); err != nil || len(w.store.all()) != n {
		t.Fatalf("second delete: %v, %d events appended", err, len(w.store.all())-n)
	}
	if _, _, err := w.handlers.RotateWebhookSecret.Handle(ctx, rotate); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("rotate of a deleted endpoint: %v", err)
	}
	never := commands.DeleteWebhook{OrganizationID: "acme", WebhookID: "0193c0de-0000-7000-8000-00000000dead"}
	if err := w.handlers.DeleteWebhook.Handle(ctx, never); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("delete of none: %v", err)
	}
}

func TestUpdateAndDisableWebhook(t *testing.T) {
	w := newWebhookWorld(t)
	ctx := t.Context()
	hook, _, err := w.handlers.CreateWebhook.Handle(ctx, commands.CreateWebhook{OrganizationID: "acme", Settings: hookSettings, Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	desc := "CRM sync"
	got, err := w.handlers.UpdateWebhook.Handle(ctx, commands.UpdateWebhook{OrganizationID: "acme", WebhookID: hook.ID, Description: &desc, Events: []string{"*"}, Actor: "admin"})
	if err != nil || got.Description != desc || got.URL != hookSettings.URL || !slices.Equal(got.Events, []string{"*"}) || !got.Enabled {
		t.Fatalf("update: %+v %v", got, err)
	}
	n := len(w.store.all())
	if _, err := w.handlers.UpdateWebhook.Handle(ctx, commands.UpdateWebhook{OrganizationID: "acme", WebhookID: hook.ID, Description: &desc}); err != nil || len(w.store.all()) != n {
		t.Fatalf("same settings again: %v, %d appended", err, len(w.store.all())-n)
	}
	disabled, err := w.handlers.DisableWebhook.Handle(ctx, commands.DisableWebhook{OrganizationID: "acme", WebhookID: hook.ID, Reason: domain.DisabledGone, Detail: "410"})
	if err != nil || disabled.Enabled || disabled.DisabledReason != domain.DisabledGone {
		t.Fatalf("disable: %+v %v", disabled, err)
	}
	on := true
	again, err := w.handlers.UpdateWebhook.Handle(ctx, commands.UpdateWebhook{OrganizationID: "acme", WebhookID: hook.ID, Enabled: &on})
	if err != nil || !again.Enabled || again.DisabledReason != "" {
		t.Fatalf("enabled again: %+v %v", again, err)
	}
	badURL := "http://u:p@hooks.example.com"
	if _, err := w.handlers.UpdateWebhook.Handle(ctx, commands.UpdateWebhook{OrganizationID: "acme", WebhookID: hook.ID, URL: &badURL}); len(domain.Violations(err)) != 1 {
		t.Errorf("bad url: %v", err)
	}
}
