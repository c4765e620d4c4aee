package domain

import (
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

var organizationIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ReservedOrganizationIDs are the words the routes use where an organization
// id stands (/organizations/invitations/{token}): an organization so named
// could be registered and never reached.
var ReservedOrganizationIDs = []string{"invitations"}

// ValidOrganizationID reports whether id is an acceptable organization id.
func ValidOrganizationID(id string) bool {
	return organizationIDPattern.MatchString(id) && !slices.Contains(ReservedOrganizationIDs, id)
}

// ValidInvitationID reports whether id is a canonical UUID, the only text
// that names an invitation (so nothing else ever reaches a NATS subject).
func ValidInvitationID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// MaxUserIDBytes bounds the sub claim used as a user id.
const MaxUserIDBytes = 255

// MaxNameRunes bounds an organization name.
const MaxNameRunes = 200

// NormalizeName trims an organization name, puts it in NFC and checks it:
// 1 to MaxNameRunes characters, none that could hide or reorder text where
// the name is shown (an invitation email, say).
func NormalizeName(name string) (string, bool) {
	if !utf8.ValidString(name) {
		return "", false
	}
	name = norm.NFC.String(strings.TrimSpace(name))
	if strings.ContainsFunc(name, hiddenInName) {
		return "", false
	}
	n := utf8.RuneCountInString(name)
	return name, n >= 1 && n <= MaxNameRunes
}

// hiddenInName is a character a name may not hold: controls (Cc), format
// characters (Cf: bidirectional overrides and isolates, zero-width spaces),
// line and paragraph separators and private use. Zero width (non-)joiners
// are format characters that Persian and Indic names and emoji need, and
// neither hides nor reorders text, so they stay.
func hiddenInName(r rune) bool {
	if r == '\u200c' || r == '\u200d' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co)
}

// Bounds of an email address, in octets, as RFC 5321 sets them.
const (
	MaxEmailBytes     = 254
	MaxLocalPartBytes = 64
)

// NormalizeEmail is the one rule that says which addresses are the same:
// it gives the form that is stored, hashed into the email slot and compared
// on accept, or false for an address the service refuses.
//
// Addresses may be internationalized (RFC 6531). The address is put in NFC
// and its ASCII letters in lower case; no other letter changes case, so two
// addresses are the same when they are canonically equivalent up to the
// case of ASCII letters. Characters that only look like others are never
// folded into them: an address may not hold a character that
// normalization would replace (KELVIN SIGN, LONG S, full-width letters,
// ligatures: anything whose NFKC form differs), nor a control, format,
// separator or private-use character, nor U+FFFD. The domain is a hostname,
// stored in its IDNA A-label form (xn--...), with at least two labels and a
// top-level label that is not all digits. The local part is a dot-atom (no
// quoted strings), at most 64 octets; the address at most 254 octets, as
// given and as stored.
func NormalizeEmail(s string) (string, bool) {
	if len(s) == 0 || len(s) > MaxEmailBytes || !utf8.ValidString(s) || strings.ContainsFunc(s, unstableInEmail) {
		return "", false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", false
	}
	// NFC again after lowering: an ASCII letter may compose with a following
	// mark only in lower case ("W\u030a" becomes U+1E98).
	s = norm.NFC.String(lowerASCII(norm.NFC.String(s)))
	at := strings.LastIndexByte(s, '@')
	local, host := s[:at], s[at+1:]
	// The registration profile of IDNA2008 (RFC 5891) refuses what lookup
	// would map (full-width and other compatibility forms, upper-case
	// non-ASCII letters) rather than turning it into another domain, and
	// allows a hostname's letters, digits and hyphens only (no IP literal).
	host, err = idna.Registration.ToASCII(host)
	if err != nil || len(local) > MaxLocalPartBytes || !twoLabelsNotNumeric(host) {
		return "", false
	}
	email := local + "@" + host
	return email, len(email) <= MaxEmailBytes
}

// unstableInEmail is a non-ASCII character an address may not hold: one
// that is not a letter, mark, digit, punctuation or symbol, the replacement
// character (bytes lost on the way), or one that normalization replaces by
// another (whose NFKC form differs: U+212A KELVIN SIGN is K, U+017F LONG S
// is s, U+FF4B is k).
func unstableInEmail(r rune) bool {
	if r < utf8.RuneSelf {
		return false
	}
	if r == utf8.RuneError || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) {
		return true
	}
	c := string(r)
	return norm.NFKC.String(c) != c
}

func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// twoLabelsNotNumeric says host has a dot and a top-level label that is not
// all digits (so 127.0.0.1 is no hostname, RFC 3696 section 2).
func twoLabelsNotNumeric(host string) bool {
	dot := strings.LastIndexByte(host, '.')
	return dot > 0 && strings.ContainsFunc(host[dot+1:], func(r rune) bool { return r < '0' || r > '9' })
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
