package domain

import (
	"slices"
	"strconv"
	"time"
)

// A Precondition is what a request demands of the state of the aggregate it
// reads or changes, as HTTP's If-Match and If-None-Match say it (RFC 9110
// section 13.1): states are named by tags (OrganizationTag, InvitationTag,
// MembershipTag), "" naming none (the aggregate does not exist). A command
// checks it on the state it decides on, so that the check and the write are
// one: a change in between loses the append's race, and the command decides
// again on the new state. The zero value demands nothing.
type Precondition struct {
	IfMatch     Tags // the state must be one of these
	IfNoneMatch Tags // the state must be none of these
}

// Tags is one condition of a request: absent (the zero value), any state
// that exists ("*"), or a list of tags.
type Tags struct {
	Given bool
	Any   bool
	List  []string
}

func (t Tags) names(tag string) bool {
	return tag != "" && (t.Any || slices.Contains(t.List, tag))
}

// Matches reports whether If-Match holds for the state tagged tag.
func (p Precondition) Matches(tag string) bool { return !p.IfMatch.Given || p.IfMatch.names(tag) }

// NoneMatches reports whether If-None-Match holds for the state tagged tag.
func (p Precondition) NoneMatches(tag string) bool {
	return !p.IfNoneMatch.Given || !p.IfNoneMatch.names(tag)
}

// Demands reports whether the request set either condition.
func (p Precondition) Demands() bool { return p.IfMatch.Given || p.IfNoneMatch.Given }

// Holds reports whether both hold, as a change needs.
func (p Precondition) Holds(tag string) bool { return p.Matches(tag) && p.NoneMatches(tag) }

// OrganizationTag names an organization's state: its version.
func OrganizationTag(version int) string { return "v" + strconv.Itoa(version) }

// InvitationTag names an invitation's state as an answer at time now shows
// it: its version and its organization's (the answer shows the
// organization's name), and "-expired" while it is past its expiry and the
// expiry is not recorded yet (the answer shows it expired).
func InvitationTag(inv Invitation, organizationVersion int, now time.Time) string {
	tag := "v" + strconv.Itoa(inv.Version) + "." + strconv.Itoa(organizationVersion)
	if inv.StatusAt(now) == StatusExpired && !inv.ExpiredEvent {
		tag += "-expired"
	}
	return tag
}

// MembershipTag names an active membership's state: the invitation it
// joined by. A membership never changes; one removed and added again
// joined by another invitation.
func MembershipTag(invitationID string) string { return invitationID }
