package httpapi

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

func TestPutOrganization(t *testing.T) {
	for _, created := range []bool{true, false} {
		h := newHarness(t)
		h.commands.org = domain.Organization{ID: "acme", Name: "Acme Corp", CreatedAt: testNow, Version: 1}
		h.commands.created = created
		rec := h.serve(http.MethodPut, orgPath, bearer(t, auth.PermOrgAdmin), `{"name":"  Acme Corp "}`)
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		got := decoded[map[string]string](t, rec, status)
		if want := map[string]string{"id": "acme", "name": "Acme Corp", "created_at": "2026-11-23T09:00:00Z"}; len(got) != 3 || got["id"] != want["id"] || got["name"] != want["name"] || got["created_at"] != want["created_at"] {
			t.Errorf("created=%v answered %v; want %v", created, got, want)
		}
		if want := (commands.RegisterOrganization{OrganizationID: "acme", Name: "Acme Corp", Actor: "user-1"}); !reflect.DeepEqual(h.commands.got, want) {
			t.Errorf("ran %+v; want %+v", h.commands.got, want)
		}
	}
}

// TestMalformedBodies checks the refusals of the strict body decoding, on
// the organization's PUT; none of them runs the command.
func TestMalformedBodies(t *testing.T) {
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
		code                    string
		fields                  []string
	}{
		{"no body", "", "", http.StatusBadRequest, codeMalformedRequest, nil},
		{"blank body", " \n", "application/json", http.StatusBadRequest, codeMalformedRequest, nil},
		{"not JSON", `{"name":`, "application/json", http.StatusBadRequest, codeMalformedRequest, nil},
		{"not an object", `["Acme"]`, "application/json", http.StatusBadRequest, codeMalformedRequest, nil},
		{"wrong type", `{"name":1}`, "application/json", http.StatusBadRequest, codeMalformedRequest, []string{"name"}},
		{"data after the object", `{"name":"Acme"} {}`, "application/json", http.StatusBadRequest, codeMalformedRequest, nil},
		{"unknown field", `{"name":"Acme","id":"other"}`, "application/json", http.StatusBadRequest, "root.invalid_parameter", []string{"id"}},
		// Names match exactly, once each, and the body is UTF-8 throughout.
		{"name in capitals", `{"NAME":"Acme"}`, "application/json", http.StatusBadRequest, "root.invalid_parameter", []string{"NAME"}},
		{"name twice", `{"name":"Acme","name":"Evil"}`, "application/json", http.StatusBadRequest, codeMalformedRequest, []string{"name"}},
		{"name and a case variant", `{"name":"Acme","Name":"Evil"}`, "application/json", http.StatusBadRequest, "root.invalid_parameter", []string{"Name"}},
		{"unknown field twice", `{"name":"Acme","id":"a","id":"b"}`, "application/json", http.StatusBadRequest, "root.invalid_parameter", []string{"id"}},
		{"invalid UTF-8 in a value", "{\"name\":\"Acme\xff\"}", "application/json", http.StatusBadRequest, codeMalformedRequest, nil},
		{"invalid UTF-8 in a name", "{\"name\":\"Acme\",\"\xfe\":1}", "application/json", http.StatusBadRequest, codeMalformedRequest, nil},
		{"escaped lone surrogate", `{"name":"Acme\ud800"}`, "application/json", http.StatusBadRequest, codeMalformedRequest, nil},
		{"name missing", `{}`, "application/json", http.StatusBadRequest, "root.invalid_parameter", []string{"name"}},
		{"name blank", `{"name":"   "}`, "application/json", http.StatusBadRequest, "root.invalid_parameter", []string{"name"}},
		{"name too long", `{"name":"` + strings.Repeat("é", 201) + `"}`, "application/json", http.StatusBadRequest, "root.invalid_parameter", []string{"name"}},
		{"not JSON media type", `{"name":"Acme"}`, "text/plain", http.StatusUnsupportedMediaType, codeUnsupportedMediaType, nil},
		{"no media type", `{"name":"Acme"}`, "", http.StatusUnsupportedMediaType, codeUnsupportedMediaType, nil},
		{"over 1 MiB", `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`, "application/json", http.StatusRequestEntityTooLarge, codeRequestTooLarge, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.serve(http.MethodPut, orgPath, bearer(t, auth.PermOrgAdmin), tc.body, "Content-Type", tc.contentType)
			wantProblem(t, rec, tc.status, tc.code, tc.fields...)
			if h.commands.calls != 0 {
				t.Errorf("ran %+v", h.commands.got)
			}
		})
	}
	// A JSON media type with parameters is JSON.
	h := newHarness(t)
	rec := h.serve(http.MethodPut, orgPath, bearer(t, auth.PermOrgAdmin), `{"name":"Acme"}`, "Content-Type", "application/json; charset=utf-8")
	if rec.Code != http.StatusOK || h.commands.calls != 1 {
		t.Errorf("answered %d %s", rec.Code, rec.Body)
	}
}

func TestGetOrganization(t *testing.T) {
	h := newHarness(t)
	got := decoded[map[string]string](t, h.serve(http.MethodGet, orgPath, bearer(t, auth.PermOrgRead), ""), http.StatusOK)
	if got["id"] != "acme" || got["name"] != "Acme" || got["created_at"] != "2026-11-23T08:00:00Z" {
		t.Errorf("answered %v", got)
	}
	delete(h.queries.orgs, "acme")
	wantProblem(t, h.serve(http.MethodGet, orgPath, bearer(t, auth.PermOrgRead), ""), http.StatusNotFound, "organization.not_found")
}
