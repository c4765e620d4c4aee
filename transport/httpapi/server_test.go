package httpapi

import (
	"net/http"
	"testing"

	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestPathsNotInCleanFormAreNoRoute checks that a path with an empty, "."
// or ".." segment is 404 root.not_found in the envelope (mux answered a 301
// to the cleaned path), and never reaches the route it would clean to.
// TestEveryErrorHasTheEnvelope (internal/service) sends such paths over TCP.
func TestPathsNotInCleanFormAreNoRoute(t *testing.T) {
	token := bearer(t, auth.PermOrgRead)
	for _, path := range []string{
		"/api/v1/organizations/acme/../acme", "/api/v1/organizations/../organizations/acme", "/api/v1/./organizations/acme",
		"/api/v1//organizations/acme", "/api/v1/organizations/acme/.", "/api/v1/organizations/acme/..", "/api/v1/organizations/acme//",
		"//api/v1/organizations/acme", "/healthz/../api/v1/organizations/acme",
	} {
		h := newHarness(t)
		wantProblem(t, h.serve(http.MethodGet, path, token, ""), http.StatusNotFound, codeRouteNotFound)
		if len(h.queries.asked) != 0 {
			t.Errorf("%s reached a route: %v", path, h.queries.asked)
		}
	}
	// Clean paths are routed as before; escaped dots are a segment's text.
	h := newHarness(t)
	if rec := h.serve(http.MethodGet, orgPath, token, ""); rec.Code != http.StatusOK {
		t.Errorf("%s answered %d", orgPath, rec.Code)
	}
	wantProblem(t, h.serve(http.MethodGet, orgPath+"/", token, ""), http.StatusNotFound, codeRouteNotFound)
	wantProblem(t, h.serve(http.MethodGet, "/api/v1/organizations/%2e%2e", token, ""), http.StatusBadRequest, "root.invalid_parameter", "organization_id")
}
