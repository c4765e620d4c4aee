package httpapi

import (
	"net/http"
	"testing"

	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestBodiesAreStrictOnEveryRoute sends the loose bodies of issue 11 to the
// routes that take a body (the organization's PUT has its own rows in
// TestMalformedBodies): a name in other case, a name given twice and invalid
// UTF-8 are refused, and no command runs.
func TestBodiesAreStrictOnEveryRoute(t *testing.T) {
	resendPath := invitationPath + "/resend"
	for _, tc := range []struct {
		name, path, body, code string
		fields                 []string
	}{
		{"role in capitals", createPath, `{"emails":["kate@corp.test"],"ROLE":"admin"}`, "root.invalid_parameter", []string{"ROLE"}},
		{"emails and a case variant", createPath, `{"emails":["kate@corp.test"],"Emails":["sam@corp.test"]}`, "root.invalid_parameter", []string{"Emails"}},
		{"role twice", createPath, `{"emails":["kate@corp.test"],"role":"member","role":"admin"}`, codeMalformedRequest, []string{"role"}},
		{"emails twice", createPath, `{"emails":["kate@corp.test"],"emails":["sam@corp.test"]}`, codeMalformedRequest, []string{"emails"}},
		{"invalid UTF-8 in an email", createPath, "{\"emails\":[\"\xff\xfe@x.test\"]}", codeMalformedRequest, nil},
		{"expires_in in capitals", resendPath, `{"EXPIRES_IN":"1h"}`, "root.invalid_parameter", []string{"EXPIRES_IN"}},
		{"expires_in twice", resendPath, `{"expires_in":"3d","expires_in":"1h"}`, codeMalformedRequest, []string{"expires_in"}},
		{"invalid UTF-8 in expires_in", resendPath, "{\"expires_in\":\"3d\xc0\"}", codeMalformedRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.serve(http.MethodPost, tc.path, bearer(t, auth.PermOrgUserInvite, auth.PermOrgAdmin), tc.body)
			wantProblem(t, rec, http.StatusBadRequest, tc.code, tc.fields...)
			if h.commands.calls != 0 {
				t.Errorf("ran %+v", h.commands.got)
			}
		})
	}
}
