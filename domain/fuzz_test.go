package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "Ada@Example.COM", "a@b", "\"a b\"@example.com", "a@example.com ", "<a@example.com>", strings.Repeat("a", 250) + "@b.co"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		email, ok := domain.NormalizeEmail(s)
		if !ok {
			return
		}
		// An accepted address is short, lower case, stable, and safe to hash.
		if len(email) > 254 || email != strings.ToLower(email) || !strings.Contains(email, "@") {
			t.Fatalf("accepted %q as %q", s, email)
		}
		if again, ok := domain.NormalizeEmail(email); !ok || again != email {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, email, again)
		}
	})
}

func FuzzParseExpiresIn(f *testing.F) {
	for _, s := range []string{"36h", "3d", "1h", "30d", "720h", "59m59s", "-1d", "1e3h", "9223372036854775807d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := domain.ParseExpiresIn(s)
		if ok && (d < time.Hour || d > 30*24*time.Hour) {
			t.Fatalf("%q accepted as %v, out of bounds", s, d)
		}
	})
}

func FuzzUnmarshalCloudEvent(f *testing.F) {
	raw, _ := domain.MarshalCloudEvent(domain.NewEvent("id", time.Unix(0, 0), domain.InvitationCancelled{OrganizationID: "o", InvitationID: "i", Actor: "a"}))
	f.Add(raw)
	f.Add([]byte(`{"specversion":"1.0","id":"x","type":"invitation.created","revision":1,"data":{"expires_at":"x"}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"x","type":"membership.added","revision":1,"data":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := domain.UnmarshalCloudEvent(raw)
		if err != nil {
			return
		}
		// Whatever decodes has a known type and a payload of that type.
		if e.Data == nil || e.Data.EventType() != e.Type {
			t.Fatalf("decoded %q with payload %T", e.Type, e.Data)
		}
		domain.StreamOf(e.Data) // must not panic for any decoded payload
	})
}
