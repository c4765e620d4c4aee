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
	"github.com/prometheus/client_golang/prometheus"
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
	Logger         *slog.Logger
	Metrics        prometheus.Registerer
	Now            func() time.Time
	// Extra routes outside /api/v1 (health, metrics), added as they are.
	Extra map[string]http.Handler
}

type server struct{ Deps }

// New returns the service's HTTP handler.
func New(d Deps) http.Handler {
	if d.Commands == nil || d.Queries == nil || d.Events == nil || d.Verifier == nil || d.Limiter == nil || d.Invites == nil || d.Logger == nil || d.Metrics == nil || d.Now == nil {
		panic("httpapi.New: nil dependency")
	}
	s := &server{d}
	// SkipClean: mux would answer a path with "." or ".." segments, or an
	// empty one, with a 301 to the cleaned path, outside the envelope;
	// cleanPaths answers them instead.
	r := mux.NewRouter().UseEncodedPath().SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeProblem(w, noSuchRoute) })
	r.Use(noteRoute)
	m := newMetrics(d.Metrics)
	api := r.PathPrefix("/api/v1").Subrouter()
	route := func(path string, methods map[string]handlerFunc) {
		api.Handle(path, s.dispatch(methods))
		m.serves("/api/v1"+path, slices.Collect(maps.Keys(methods))...)
	}
	// The token routes come first: "invitations" is not an organization id here.
	route("/organizations/invitations/{invitation_token}", map[string]handlerFunc{http.MethodGet: s.lookupByToken})
	route("/organizations/invitations/{invitation_token}/_accept", map[string]handlerFunc{http.MethodPost: s.acceptByToken})
	route("/organizations/{organization_id}", map[string]handlerFunc{http.MethodPut: s.putOrganization, http.MethodGet: s.getOrganization})
	route("/organizations/{organization_id}/invitations", map[string]handlerFunc{http.MethodPost: s.createInvitations, http.MethodGet: s.listInvitations})
	route("/organizations/{organization_id}/invitations/{invitation_id}", map[string]handlerFunc{http.MethodGet: s.getInvitation, http.MethodDelete: s.cancelInvitation})
	route("/organizations/{organization_id}/invitations/{invitation_id}/resend", map[string]handlerFunc{http.MethodPost: s.resendInvitation})
	route("/organizations/{organization_id}/invitations/{invitation_id}/accept", map[string]handlerFunc{http.MethodPost: s.acceptByID})
	route("/organizations/{organization_id}/invitations/{invitation_id}/events", map[string]handlerFunc{http.MethodGet: s.invitationEvents})
	route("/organizations/{organization_id}/events", map[string]handlerFunc{http.MethodGet: s.organizationEvents})
	route("/organizations/{organization_id}/members", map[string]handlerFunc{http.MethodGet: s.listMembers})
	route("/organizations/{organization_id}/members/{user_id}", map[string]handlerFunc{http.MethodDelete: s.removeMember})
	route("/organizations/{organization_id}/erasures", map[string]handlerFunc{http.MethodPost: s.eraseEmail})
	if d.Webhooks != nil {
		s.webhookRoutes(route)
	}
	route("/openapi.json", map[string]handlerFunc{http.MethodGet: s.openAPI})
	for path, h := range d.Extra {
		r.Handle(path, h)
		m.serves(path, http.MethodGet)
	}
	return s.withRequestID(s.instrument(m)(s.recoverPanics(cleanPaths(r))))
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := methods[r.Method]
		if !ok {
			writeProblem(w, newProblem(http.StatusMethodNotAllowed, codeMethodNotAllowed, "Method not allowed on this route.").with("Allow", allow))
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
