package httpapi

import (
	"net/http"
	"strings"

	"github.com/invitesvc/invitesvc/domain"
)

// Caching and conditional requests (RFC 9110 section 13, RFC 9111).
//
// An organization, an invitation and a member are answered with a strong
// ETag naming their state (domain's tags, quoted). A read answers 304 when
// If-None-Match names that state and 412 when If-Match names another; a
// change passes both conditions to its command, which checks them on the
// state it decides on. net/http has the parsing (ServeContent), but not
// exported, and ServeContent would answer 412 without the envelope and
// serve byte ranges: so it is done here.

// The Cache-Control of the answers: one that carries a token (or answers a
// path holding one) is never stored; the other authenticated answers are
// the caller's own, kept only by its own cache and revalidated before each
// use (no heuristic freshness), which the ETag makes a cheap 304.
const (
	cacheNoStore = "no-store"
	cachePrivate = "private, no-cache"
)

// noStore and private set the answer's Cache-Control before h runs, so
// that its errors carry it too.
func noStore(h handlerFunc) handlerFunc { return cacheControl(cacheNoStore, h) }
func private(h handlerFunc) handlerFunc { return cacheControl(cachePrivate, h) }

func cacheControl(value string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", value)
		return h(w, r)
	}
}

// entityTag is the ETag of a state's tag: a strong one.
func entityTag(tag string) string { return `"` + tag + `"` }

// preconditionOf reads If-Match and If-None-Match; a field that is not "*"
// or a list of entity-tags is 400, naming it.
func preconditionOf(r *http.Request) (domain.Precondition, error) {
	var p domain.Precondition
	var ok bool
	if p.IfMatch, ok = condition(r.Header.Values("If-Match"), false); !ok {
		return p, invalid(`If-Match must be "*" or a list of entity-tags such as "v2".`, "If-Match")
	}
	if p.IfNoneMatch, ok = condition(r.Header.Values("If-None-Match"), true); !ok {
		return p, invalid(`If-None-Match must be "*" or a list of entity-tags such as "v2".`, "If-None-Match")
	}
	return p, nil
}

// condition parses the field lines of one condition (RFC 9110 section
// 13.1.1: "*" / #entity-tag). If-Match compares strongly, so a weak tag
// never matches and is left out; If-None-Match compares weakly, so it
// counts as its opaque tag.
func condition(lines []string, weakCounts bool) (domain.Tags, bool) {
	if len(lines) == 0 {
		return domain.Tags{}, true
	}
	value := strings.Trim(strings.Join(lines, ","), " \t")
	if value == "*" {
		return domain.Tags{Given: true, Any: true}, true
	}
	t := domain.Tags{Given: true}
	elements := 0
	for value != "" {
		value = strings.TrimLeft(value, " \t")
		if rest, found := strings.CutPrefix(value, ","); found {
			value = rest // an empty list element
			continue
		}
		weak := strings.HasPrefix(value, "W/")
		if weak {
			value = value[2:]
		}
		tag, rest, ok := opaqueTag(value)
		if !ok {
			return domain.Tags{}, false
		}
		if !weak || weakCounts {
			t.List = append(t.List, tag)
		}
		elements++
		value = strings.TrimLeft(rest, " \t")
		if value != "" && value[0] != ',' {
			return domain.Tags{}, false
		}
	}
	return t, elements > 0
}

// opaqueTag reads a quoted opaque-tag at the start of s: its content and
// what follows it.
func opaqueTag(s string) (tag, rest string, ok bool) {
	if len(s) < 2 || s[0] != '"' {
		return "", "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[1:i], s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80: // etagc
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// answerTagged answers a read of one resource in the state tagged tag, with
// its ETag: 412 when If-Match names another state, else 304 when
// If-None-Match names this one (RFC 9110 section 13.2.2), else 200 and body.
func answerTagged(w http.ResponseWriter, r *http.Request, tag string, body any) error {
	p, err := preconditionOf(r)
	if err != nil {
		return err
	}
	if !p.Matches(tag) {
		return domain.ErrPreconditionFailed
	}
	w.Header().Set("ETag", entityTag(tag))
	if !p.NoneMatches(tag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
