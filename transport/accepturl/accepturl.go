// Package accepturl makes the links that invitees follow to accept an
// invitation, from the template given with --accept-url.
package accepturl

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Placeholder is where a template takes the token.
const Placeholder = "{token}"

// Template is an accept URL with one Placeholder; the zero Template makes
// no links.
type Template struct{ before, after string }

// Parse checks a template: an absolute http or https URL with a host, and
// exactly one Placeholder, which a token (base64url) fills without any
// escaping. The empty string is the zero Template.
func Parse(s string) (Template, error) {
	if s == "" {
		return Template{}, nil
	}
	if n := strings.Count(s, Placeholder); n != 1 {
		return Template{}, fmt.Errorf("accept URL %q must hold %s exactly once, not %d times", s, Placeholder, n)
	}
	// The placeholder is checked as a token would stand in it: braces are
	// not allowed in a URL's host, and url.Parse would accept them in a path.
	sample := strings.Replace(s, Placeholder, "TOKEN", 1)
	u, err := url.Parse(sample)
	if err != nil {
		return Template{}, fmt.Errorf("accept URL %q: %w", s, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return Template{}, fmt.Errorf("accept URL %q must be an absolute https:// (or http://) URL", s)
	case u.Host == "" || u.User != nil:
		return Template{}, fmt.Errorf("accept URL %q must name a host, and no user", s)
	case strings.Contains(u.Host, "TOKEN"):
		return Template{}, fmt.Errorf("accept URL %q must not take the token in its host", s)
	case strings.ContainsAny(s, " \t\r\n<>\"'"):
		return Template{}, errors.New("accept URL must not hold spaces, line breaks, quotes or angle brackets")
	}
	before, after, _ := strings.Cut(s, Placeholder)
	return Template{before: before, after: after}, nil
}

// Set reports whether the template makes links.
func (t Template) Set() bool { return t.before != "" }

// For is the link of token, or "" when the template is not set. A token is
// base64url, which needs no escaping anywhere in a URL.
func (t Template) For(token string) string {
	if !t.Set() || token == "" {
		return ""
	}
	return t.before + token + t.after
}

// String is the template as given.
func (t Template) String() string {
	if !t.Set() {
		return ""
	}
	return t.before + Placeholder + t.after
}
