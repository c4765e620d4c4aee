package domain

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

var organizationIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidOrganizationID reports whether id is an acceptable organization id.
func ValidOrganizationID(id string) bool { return organizationIDPattern.MatchString(id) }

// ValidInvitationID reports whether id is a canonical UUID, the only text
// that names an invitation (so nothing else ever reaches a NATS subject).
func ValidInvitationID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// MaxUserIDBytes bounds the sub claim used as a user id.
const MaxUserIDBytes = 255

// NormalizeName trims an organization name and checks its length.
func NormalizeName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	return name, n >= 1 && n <= 200
}

// NormalizeEmail checks a bare address of at most 254 characters and lowers
// its case, since matching is case-insensitive.
func NormalizeEmail(s string) (string, bool) {
	if len(s) == 0 || len(s) > 254 || strings.TrimSpace(s) != s {
		return "", false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", false
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || !strings.Contains(s[at+1:], ".") {
		return "", false
	}
	return strings.ToLower(s), true
}

// Bounds of expires_in.
const (
	MinExpiresIn     = time.Hour
	MaxExpiresIn     = 30 * 24 * time.Hour
	DefaultExpiresIn = 7 * 24 * time.Hour
)

// ParseExpiresIn reads a Go duration ("36h") or whole days ("3d") within bounds.
func ParseExpiresIn(s string) (time.Duration, bool) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 30 || strings.HasPrefix(days, "+") {
			return 0, false
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, false
		}
	}
	return d, d >= MinExpiresIn && d <= MaxExpiresIn
}
