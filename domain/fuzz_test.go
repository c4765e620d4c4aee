package domain_test

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/invitesvc/invitesvc/domain"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "Ada@Example.COM", "a@b", "\"a b\"@example.com", "a@example.com ", "<a@example.com>", strings.Repeat("a", 250) + "@b.co",
		"j\u00f6rg@B\u00fccher.example", "jo\u0308rg@xn--bcher-kva.example", "W\u030a@x.test", "I\u0307x@x.test", "a@[127.0.0.1]", "a@127.0.0.1", "\xff\xfe@x.test"} {
		f.Add(s)
	}
	for _, l := range lookalikes {
		f.Add(l.email)
	}
	f.Fuzz(func(t *testing.T, s string) {
		email, ok := domain.NormalizeEmail(s)
		if !ok {
			if email != "" {
				t.Fatalf("refused %q but gave %q", s, email)
			}
			return
		}
		// An accepted address is within the RFC's bounds, valid UTF-8 in
		// NFC, its ASCII letters in lower case, its domain ASCII (A-labels).
		at := strings.LastIndexByte(email, '@')
		if at < 1 || len(email) > domain.MaxEmailBytes || at > domain.MaxLocalPartBytes || !utf8.ValidString(email) ||
			!norm.NFC.IsNormalString(email) || strings.ContainsFunc(email, func(r rune) bool { return 'A' <= r && r <= 'Z' }) ||
			strings.ContainsFunc(email[at+1:], func(r rune) bool { return r >= utf8.RuneSelf }) {
			t.Fatalf("accepted %q as %q", s, email)
		}
		if again, ok := domain.NormalizeEmail(email); !ok || again != email {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, email, again)
		}
		// ASCII case is all the rule folds: flipping it gives the same
		// address (but for a letter a mark follows, which NFC may compose
		// into a non-ASCII letter whose case is kept).
		if variant := flipASCIICase(s); variant != s {
			if other, ok := domain.NormalizeEmail(variant); !ok || other != email {
				t.Fatalf("ASCII case variants differ: %q -> %q, %q -> %q, %v", s, email, variant, other, ok)
			}
		}
		// Nothing but ASCII case and canonical equivalence is folded: an
		// address the rule turned ASCII was ASCII to begin with.
		if !strings.ContainsFunc(email, func(r rune) bool { return r >= utf8.RuneSelf }) && !strings.Contains(email, "xn--") &&
			strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
			t.Fatalf("%q, not ASCII, is stored as the ASCII %q", s, email)
		}
	})
}

// flipASCIICase swaps the case of every ASCII letter no mark follows.
func flipASCIICase(s string) string {
	runes := []rune(s)
	for i, r := range runes {
		if i+1 < len(runes) && unicode.Is(unicode.M, runes[i+1]) {
			continue
		}
		switch {
		case 'a' <= r && r <= 'z':
			runes[i] = r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			runes[i] = r - 'A' + 'a'
		}
	}
	return string(runes)
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
