package domain_test

import (
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// The conditions as RFC 9110 sections 13.1.1 and 13.1.2 define them, ""
// standing for no current state.
func TestPrecondition(t *testing.T) {
	anyState := domain.Tags{Given: true, Any: true}
	list := domain.Tags{Given: true, List: []string{"v1", "v3"}}
	tests := []struct {
		name                 string
		p                    domain.Precondition
		tag                  string
		matches, noneMatches bool
	}{
		{"none given, a state", domain.Precondition{}, "v2", true, true},
		{"none given, no state", domain.Precondition{}, "", true, true},
		{"If-Match *, a state", domain.Precondition{IfMatch: anyState}, "v2", true, true},
		{"If-Match *, no state", domain.Precondition{IfMatch: anyState}, "", false, true},
		{"If-Match a listed tag", domain.Precondition{IfMatch: list}, "v3", true, true},
		{"If-Match no listed tag", domain.Precondition{IfMatch: list}, "v2", false, true},
		{"If-Match a list, no state", domain.Precondition{IfMatch: list}, "", false, true},
		{"If-Match given with no tag (only weak ones)", domain.Precondition{IfMatch: domain.Tags{Given: true}}, "v1", false, true},
		{"If-None-Match *, a state", domain.Precondition{IfNoneMatch: anyState}, "v2", true, false},
		{"If-None-Match *, no state", domain.Precondition{IfNoneMatch: anyState}, "", true, true},
		{"If-None-Match a listed tag", domain.Precondition{IfNoneMatch: list}, "v1", true, false},
		{"If-None-Match no listed tag", domain.Precondition{IfNoneMatch: list}, "v2", true, true},
	}
	for _, tt := range tests {
		if got := tt.p.Matches(tt.tag); got != tt.matches {
			t.Errorf("%s: Matches(%q) = %v", tt.name, tt.tag, got)
		}
		if got := tt.p.NoneMatches(tt.tag); got != tt.noneMatches {
			t.Errorf("%s: NoneMatches(%q) = %v", tt.name, tt.tag, got)
		}
		if got := tt.p.Holds(tt.tag); got != (tt.matches && tt.noneMatches) {
			t.Errorf("%s: Holds(%q) = %v", tt.name, tt.tag, got)
		}
	}
}

// An invitation's tag changes with everything its answers show: its own
// events, its organization's name, and the time passing its expiry.
func TestInvitationTag(t *testing.T) {
	inv := given(created)
	tags := map[string]string{
		"pending":                   domain.InvitationTag(inv, 1, now),
		"organization renamed":      domain.InvitationTag(inv, 2, now),
		"past its expiry":           domain.InvitationTag(inv, 1, now.Add(2*time.Hour)),
		"cancelled":                 domain.InvitationTag(given(created, cancelled), 1, now),
		"expiry recorded":           domain.InvitationTag(given(created, domain.InvitationExpired{OrganizationID: org, InvitationID: invID}), 1, now.Add(2*time.Hour)),
		"cancelled past its expiry": domain.InvitationTag(given(created, cancelled), 1, now.Add(2*time.Hour)),
	}
	want := map[string]string{
		"pending": "v1.1", "organization renamed": "v1.2", "past its expiry": "v1.1-expired",
		"cancelled": "v2.1", "expiry recorded": "v2.1", "cancelled past its expiry": "v2.1",
	}
	for name, tag := range tags {
		if tag != want[name] {
			t.Errorf("%s: tag %q, want %q", name, tag, want[name])
		}
	}
}
