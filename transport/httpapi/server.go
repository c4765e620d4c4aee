package httpapi

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/klauspost/compress/gzhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitesvc/invitesvc/transport/accepturl"
)

// Deps are what the HTTP layer serves from.
type Deps struct {
	Commands Commands
	Queries  Queries
	Events   EventLog
	Verifier Verifier
	Limiter  *FailureLimiter
	Invites  *InviteLimiter
	// Webhooks serve the webhook routes; nil leaves them out.
	Webhooks Webhooks
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client, for the per-client limits.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the origins whose pages may call the API from a
	// browser, each as CheckOrigin wants it; none by default.
	CORSOrigins []string
	// AcceptURL makes the accept_url of the answers that carry a token;
	// the zero template makes none.
	AcceptURL accepturl.Template
	Logger    *slog.Logger
	Metrics   prometheus.Registerer
	Now       func() time.Time
	// Extra routes outside /api/v1 (health, metrics), added as they are.
	Extra map[string]http.Handler
}

type server struct {
	Deps
	cors *corsPolicy
}

// New returns the service's HTTP handler.
func New(d Deps) http.Handler {
	if d.Commands == nil || d.Queries == nil || d.Events == nil || d.Verifier == nil || d.Limiter == nil || d.Invites == nil || d.Logger == nil || d.Metrics == nil || d.Now == nil {
		panic("httpapi.New: nil dependency")
	}
	s := &server{Deps: d, cors: newCORS(d.CORSOrigins)}
	// SkipClean: mux would answer a path with "." or ".." segments, or an
	// empty one, with a 301 to the cleaned path, outside the envelope;
	// cleanPaths answers them instead.
	r := mux.NewRouter().UseEncodedPath().SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeProblem(w, noSuchRoute) })
	r.Use(noteRoute)
	m := newMetrics(d.Metrics)
	api := r.PathPrefix("/api/v1").Subrouter()
	// Every route that answers GET answers HEAD with the same handler:
	// net/http sends its headers and drops the body (RFC 9110 section
	// 9.3.2). gzhttp compresses no HEAD answer (for a bug of nginx,
	// golang.org/issue/5522): it describes the uncompressed one.
	route := func(path string, methods map[string]handlerFunc) {
		if get, ok := methods[http.MethodGet]; ok {
			methods[http.MethodHead] = get
		}
		api.Handle(path, s.dispatch(methods))
		m.serves("/api/v1"+path, slices.Collect(maps.Keys(methods))...)
	}
	// The token routes come first: "invitations" is not an organization id here.
	route("/organizations/invitations/{invitation_token}", map[string]handlerFunc{http.MethodGet: noStore(s.lookupByToken)})
	route("/organizations/invitations/{invitation_token}/_accept", map[string]handlerFunc{http.MethodPost: noStore(s.acceptByToken)})
	route("/organizations/{organization_id}", map[string]handlerFunc{http.MethodPut: private(s.putOrganization), http.MethodGet: private(s.getOrganization)})
	route("/organizations/{organization_id}/invitations", map[string]handlerFunc{http.MethodPost: noStore(s.createInvitations), http.MethodGet: private(s.listInvitations)})
	route("/organizations/{organization_id}/invitations/{invitation_id}", map[string]handlerFunc{http.MethodGet: private(s.getInvitation), http.MethodDelete: private(s.cancelInvitation)})
	route("/organizations/{organization_id}/invitations/{invitation_id}/resend", map[string]handlerFunc{http.MethodPost: noStore(s.resendInvitation)})
	route("/organizations/{organization_id}/invitations/{invitation_id}/accept", map[string]handlerFunc{http.MethodPost: private(s.acceptByID)})
	route("/organizations/{organization_id}/invitations/{invitation_id}/events", map[string]handlerFunc{http.MethodGet: private(s.invitationEvents)})
	route("/organizations/{organization_id}/events", map[string]handlerFunc{http.MethodGet: private(s.organizationEvents)})
	route("/organizations/{organization_id}/members", map[string]handlerFunc{http.MethodGet: private(s.listMembers)})
	route("/organizations/{organization_id}/members/{user_id}", map[string]handlerFunc{http.MethodGet: private(s.getMember), http.MethodDelete: private(s.removeMember)})
	route("/organizations/{organization_id}/erasures", map[string]handlerFunc{http.MethodPost: private(s.eraseEmail)})
	if d.Webhooks != nil {
		s.webhookRoutes(route)
	}
	route("/openapi.json", map[string]handlerFunc{http.MethodGet: s.openAPI})
	for path, h := range d.Extra {
		r.Handle(path, h)
		m.serves(path, http.MethodGet, http.MethodHead)
	}
	// gzhttp compresses answers of 1 KiB and more (zstd when the client
	// takes it, else gzip) and leaves ETags as they are: they name the
	// resource's state whatever the coding, which Vary: Accept-Encoding
	// keeps caches apart, and no route serves byte ranges, the one thing a
	// tag per coding would protect.
	return s.withRequestID(gzhttp.GzipHandler(s.cors.wrap(s.instrument(m)(s.recoverPanics(cleanPaths(r))))))
}

var noSuchRoute = newProblem(http.StatusNotFound, codeRouteNotFound, "No such route.")

// cleanPaths answers a path that is not in clean form (an empty, "." or ".."
// segment) as no such route: no route of the API has such a path, and one
// must not reach a route by way of another (".." would otherwise match
// {organization_id}).
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		clean := p == "/" || (len(p) > 1 && p[0] == '/' && path.Clean(p) == strings.TrimSuffix(p, "/"))
		if !clean {
			writeProblem(w, noSuchRoute)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handlerFunc answers a request or returns the error to answer with.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// dispatch picks the handler by method; other methods get 405 with Allow.
func (s *server) dispatch(methods map[string]handlerFunc) http.Handler {
	allowed := make([]string, 0, len(methods))
	for m := range methods {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	has := func(method string) bool { _, ok := methods[method]; return ok }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPreflight(r) {
			s.cors.preflight(w, r, has, allow)
			return
		}
		h, ok := methods[r.Method]
		if !ok {
			writeProblem(w, methodNotAllowed(allow))
			return
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p, known := toProblem(err)
	if !known {
		s.Logger.Error("request failed", "request_id", requestID(r.Context()), "method", r.Method, "route", routeOf(r), "error", err)
	} else if p.status == http.StatusServiceUnavailable {
		s.Logger.Warn("dependency unavailable", "request_id", requestID(r.Context()), "route", routeOf(r), "error", err)
	}
	writeProblem(w, p)
}

// routeOf is the route template, which never holds a token or other secret.
func routeOf(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		if t, err := rt.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unknown"
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // links hold '&'
	_ = enc.Encode(body)
}
