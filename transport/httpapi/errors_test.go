package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// TestStoreFailuresAnswer503 checks that a store failure, from a command, a
// query or the event log, is 503 with Retry-After: the remedy is to retry.
// (A race lost too often is 409: TestLostRacesAnswer409.)
func TestStoreFailuresAnswer503(t *testing.T) {
	for name, err := range map[string]error{
		"unavailable": fmt.Errorf("%w: redis: connection refused", domain.ErrUnavailable),
		"deadline":    context.DeadlineExceeded,
	} {
		for port, fail := range map[string]func(*harness) (method, path, body string){
			"command": func(h *harness) (string, string, string) {
				h.commands.err = err
				return http.MethodDelete, invitationPath, ""
			},
			"query": func(h *harness) (string, string, string) { h.queries.err = err; return http.MethodGet, orgPath, "" },
			"event log": func(h *harness) (string, string, string) {
				h.events.err = err
				return http.MethodGet, invitationPath + "/events", ""
			},
		} {
			t.Run(name+" in "+port, func(t *testing.T) {
				h := newHarness(t)
				method, path, body := fail(h)
				rec := h.serve(method, path, bearer(t, auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite), body)
				env := wantProblem(t, rec, http.StatusServiceUnavailable, codeUnavailable)
				if rec.Header().Get("Retry-After") != "1" {
					t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
				}
				if strings.Contains(env.Errors[0].Message, "redis") || strings.Contains(env.Errors[0].Message, "attempts") {
					t.Errorf("the message tells internals: %q", env.Errors[0].Message)
				}
				if !strings.Contains(h.logs.String(), "dependency unavailable") {
					t.Errorf("not logged as unavailable: %s", h.logs)
				}
			})
		}
	}
}

func TestUnknownErrorIsAnInternalErrorThatTellsNothing(t *testing.T) {
	h := newHarness(t)
	h.commands.err = errors.New("secret internals at 10.0.0.5")
	rec := h.serve(http.MethodDelete, invitationPath, bearer(t, auth.PermOrgUserInvite), "")
	wantProblem(t, rec, http.StatusInternalServerError, codeInternal)
	if strings.Contains(rec.Body.String(), "secret") || len(rec.Header().Values("Retry-After")) != 0 {
		t.Errorf("answered %v %s", rec.Header(), rec.Body)
	}
	if !strings.Contains(h.logs.String(), "secret internals at 10.0.0.5") {
		t.Errorf("the error is not logged: %s", h.logs)
	}
}

// TestEveryViolationIsListed checks the envelope of several rule
// violations: one entry each, in order, the status of the first.
func TestEveryViolationIsListed(t *testing.T) {
	h := newHarness(t)
	h.commands.err = fmt.Errorf("deciding: %w", domain.Errors{domain.ErrForbidden.WithFields("role"), domain.ErrInvitationAlreadyExists.WithFields("emails[1]")})
	rec := h.serve(http.MethodPost, createPath, bearer(t, auth.PermOrgUserInvite), `{"emails":["a@example.com","b@example.com"],"role":"admin"}`)
	env := wantProblem(t, rec, http.StatusForbidden, "root.forbidden", "role")
	if len(env.Errors) != 2 || env.Errors[1].Code != "organization.invitation_already_exists" || env.Errors[1].Fields[0] != "emails[1]" {
		t.Errorf("errors %+v", env.Errors)
	}
	if rec.Header().Get("X-Error-Codes") != "root.forbidden,organization.invitation_already_exists" {
		t.Errorf("X-Error-Codes %q", rec.Header().Get("X-Error-Codes"))
	}
}

func TestDomainErrorStatuses(t *testing.T) {
	for err, status := range map[*domain.Error]int{
		domain.ErrOrganizationNotFound:      http.StatusNotFound,
		domain.ErrInvitationAlreadyExists:   http.StatusConflict,
		domain.ErrInvitationCancelled:       http.StatusConflict,
		domain.ErrAlreadyMember:             http.StatusBadRequest,
		domain.ErrIdempotencyKeyReused:      http.StatusUnprocessableEntity,
		domain.ErrInvitationAlreadyAccepted: http.StatusConflict,
	} {
		h := newHarness(t)
		h.commands.err = err
		rec := h.serve(http.MethodPost, createPath, bearer(t, auth.PermOrgUserInvite), `{"emails":["a@example.com"]}`)
		wantProblem(t, rec, status, string(err.Code), err.Fields...)
	}
}

func TestPanicInAHandlerIsAnInternalError(t *testing.T) {
	h := newHarness(t)
	h.commands.panic = "secret panic value"
	rec := h.serve(http.MethodPut, orgPath, bearer(t, auth.PermOrgAdmin), `{"name":"Acme"}`)
	wantProblem(t, rec, http.StatusInternalServerError, codeInternal)
	if strings.Contains(rec.Body.String(), "secret") || rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("answered %v %s", rec.Header(), rec.Body)
	}
	if !strings.Contains(h.logs.String(), "secret panic value") {
		t.Errorf("the panic is not logged: %s", h.logs)
	}
	// The server goes on serving.
	h.commands.panic = nil
	if rec := h.serve(http.MethodPut, orgPath, bearer(t, auth.PermOrgAdmin), `{"name":"Acme"}`); rec.Code != http.StatusOK {
		t.Errorf("after the panic: %d %s", rec.Code, rec.Body)
	}
}

func TestOpenAPIDocumentIsServedWithoutAToken(t *testing.T) {
	h := newHarness(t)
	rec := h.serve(http.MethodGet, "/api/v1/openapi.json", "", "")
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), OpenAPIDocument()) || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("answered %d %v", rec.Code, rec.Header())
	}
}

// TestMetricsAndLogsNameTheRouteNotThePath checks that what is recorded
// of a request never holds the path's token.
func TestMetricsAndLogsNameTheRouteNotThePath(t *testing.T) {
	h := newHarness(t)
	h.serve(http.MethodGet, tokenPath, "", "")
	families, err := h.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), testToken) {
					t.Errorf("%s has label %s=%s", f.GetName(), l.GetName(), l.GetValue())
				}
				if f.GetName() == "invitesvc_http_requests_total" && l.GetName() == "route" && m.GetCounter().GetValue() > 0 {
					routes = append(routes, l.GetValue())
				}
			}
		}
	}
	if len(routes) != 1 || routes[0] != "/api/v1/organizations/invitations/{invitation_token}" {
		t.Errorf("requests counted by route %v", routes)
	}
	if strings.Contains(h.logs.String(), testToken) || !strings.Contains(h.logs.String(), "{invitation_token}") {
		t.Errorf("logs %s", h.logs)
	}
}
