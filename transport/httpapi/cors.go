package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"

	"github.com/invitesvc/invitesvc/domain"
)

// CORS: browsers on the configured origins (--cors-origins) may call the
// API. github.com/rs/cors writes the headers; the origins are compared
// exactly (its own list would lower-case them, and take wildcards): no
// other scheme, port, case, trailing dot or "null" is one of them.
// Credentials are bearer tokens the page sends itself, never cookies, so
// no Access-Control-Allow-Credentials. Preflights reach the route, which
// answers 204 or, refused, the error envelope without CORS headers.

// corsRequestHeaders are the request headers a browser may send: the
// API's, and the trace context instrument reads.
var corsRequestHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match",
	"X-Request-Id", "Traceparent", "Tracestate"}

// corsExposedHeaders are the answer headers a page may read beyond the
// CORS-safelisted ones (Cache-Control, Content-Type, ...).
var corsExposedHeaders = []string{"X-Request-Id", "X-Error-Codes", "ETag", "Idempotent-Replayed", "Retry-After", "Allow"}

// corsMaxAge is how long, in seconds, a browser may reuse a preflight's
// answer: a change to --cors-origins reaches browsers within it.
const corsMaxAge = 600

// CheckOrigin returns an error unless origin is written as browsers send
// it in Origin (scheme://host[:port], lower case, no default port, no path
// or trailing slash), so that the exact comparison can ever match it.
func CheckOrigin(origin string) error {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("%q is not an origin such as https://console.example.com (http or https, a host, an optional port)", origin)
	}
	for _, c := range []byte(u.Hostname()) {
		switch {
		case c >= 0x80:
			return fmt.Errorf("%q: write the host in its A-label form (xn--...), as browsers send it", origin)
		case !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:", rune(c)):
			return fmt.Errorf("%q: a host has letters, digits, dots and hyphens only (no wildcard: origins are compared exactly)", origin)
		}
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	canonical := u.Scheme + "://" + strings.TrimSuffix(host, ":")
	if origin != canonical {
		return fmt.Errorf("%q is not written as browsers send it: write %q (no path, lower case, no default port)", origin, canonical)
	}
	return nil
}

// corsPolicy is the configured origins and the handler that writes their headers.
type corsPolicy struct {
	origins map[string]bool
	headers *cors.Cors // nil when no origin is allowed
}

func newCORS(origins []string) *corsPolicy {
	c := &corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		if err := CheckOrigin(o); err != nil {
			panic("httpapi.New: CORS origin " + err.Error())
		}
		c.origins[o] = true
	}
	if len(c.origins) > 0 {
		c.headers = cors.New(cors.Options{
			AllowOriginFunc:    func(origin string) bool { return c.origins[origin] },
			AllowedMethods:     []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete},
			AllowedHeaders:     corsRequestHeaders,
			ExposedHeaders:     corsExposedHeaders,
			MaxAge:             corsMaxAge,
			OptionsPassthrough: true,
		})
	}
	return c
}

// wrap gives next's answers to allowed origins their CORS headers; with no
// origin configured, none at all.
func (c *corsPolicy) wrap(next http.Handler) http.Handler {
	if c.headers == nil {
		return next
	}
	return c.headers.Handler(next)
}

// isPreflight says whether r is a CORS preflight (Fetch standard: OPTIONS
// with Access-Control-Request-Method).
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a preflight of a route whose methods allow lists: 204
// when wrap found it allowed, else the reason in the envelope, and no CORS
// header.
func (c *corsPolicy) preflight(w http.ResponseWriter, r *http.Request, has func(method string) bool, allow string) {
	method := r.Header.Get("Access-Control-Request-Method")
	approved := w.Header().Get("Access-Control-Allow-Origin") != ""
	if approved && has(method) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	for name := range w.Header() {
		if strings.HasPrefix(name, "Access-Control-") {
			w.Header().Del(name)
		}
	}
	origin := r.Header.Get("Origin")
	switch {
	case !c.origins[origin]:
		writeProblem(w, newProblem(http.StatusForbidden, string(domain.CodeForbidden),
			fmt.Sprintf("The origin %q may not call this API from a browser: it is not one of the service's --cors-origins.", origin)))
	case !has(method):
		writeProblem(w, methodNotAllowed(allow))
	default:
		writeProblem(w, newProblem(http.StatusForbidden, string(domain.CodeForbidden),
			"The preflight asks to send a request header this API does not take from a browser; it takes "+
				strings.ToLower(strings.Join(corsRequestHeaders, ", "))+" (named in lower case and sorted, as browsers send them)."))
	}
}
