package httpapi

import (
	"net/http"
	"testing"

	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestQueryParametersAreReadStrictly checks the three lists: a parameter
// given twice is refused naming it (it used to take the first value), and a
// query string that is not valid percent-encoding is refused (its bad pairs
// used to be dropped); neither reaches a query.
func TestQueryParametersAreReadStrictly(t *testing.T) {
	token := bearer(t, auth.PermOrgRead, auth.PermOrgUserRead)
	cursor, other := projections.EncodeCursor(3), projections.EncodeCursor(9)
	for _, tc := range []struct {
		path   string
		code   string
		fields []string
	}{
		{createPath + "?status=all&status=bogus", "root.invalid_parameter", []string{"status"}},
		{createPath + "?status=all&status=all", "root.invalid_parameter", []string{"status"}},
		{createPath + "?limit=10&limit=100", "root.invalid_parameter", []string{"limit"}},
		{createPath + "?starting_after=" + cursor + "&starting_after=" + other, "root.invalid_parameter", []string{"starting_after"}},
		{orgPath + "/members?ending_before=" + cursor + "&ending_before=" + other + "&limit=10&limit=20", "root.invalid_parameter", []string{"ending_before", "limit"}},
		{orgPath + "/events?type=invitation.created&type=invitation.accepted", "root.invalid_parameter", []string{"type"}},
		{orgPath + "/events?since=2026-11-23T00:00:00Z&since=2026-11-24T00:00:00Z", "root.invalid_parameter", []string{"since"}},
		{createPath + "?status=all&limit=%zz", codeMalformedRequest, nil},
		{orgPath + "/members?limit=10;limit=20", codeMalformedRequest, nil},
		{orgPath + "/events?type=%", codeMalformedRequest, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			h := newHarness(t)
			wantProblem(t, h.serve(http.MethodGet, tc.path, token, ""), http.StatusBadRequest, tc.code, tc.fields...)
			if len(h.queries.asked) != 0 {
				t.Errorf("queried %v", h.queries.asked)
			}
		})
	}
}
