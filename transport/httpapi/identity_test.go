package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// Every word a route of the contract puts where an organization id stands
// (/organizations/invitations/{invitation_token}) is refused as one, so no
// organization is registered that its routes cannot reach.
func TestRouteWordsAreNoOrganizationIDs(t *testing.T) {
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	var words []string
	for path := range doc.Paths {
		segments := strings.Split(path, "/")
		if len(segments) > 2 && segments[1] == "organizations" && segments[2] != "{organization_id}" {
			words = append(words, segments[2])
		}
	}
	if len(words) == 0 {
		t.Fatal("no route word found where an organization id stands")
	}
	for _, word := range words {
		owner := mint(t, auth.Claims{OrgPermissions: grant(word, auth.PermOrgAdmin, auth.PermOrgRead)})
		for _, method := range []string{http.MethodPut, http.MethodGet} {
			h := newHarness(t)
			rec := h.serve(method, "/api/v1/organizations/"+word, owner, `{"name":"Shadowed"}`)
			wantProblem(t, rec, http.StatusBadRequest, string(domain.CodeInvalidParameter), "organization_id")
			if h.commands.calls != 0 {
				t.Errorf("%s %s ran %+v", method, word, h.commands.got)
			}
		}
	}
}

// TestOrganizationNamesRefuseHiddenCharacters: a name is shown to invitees
// (in invitation emails too): nothing in it may hide or reorder text.
func TestOrganizationNamesRefuseHiddenCharacters(t *testing.T) {
	for _, name := range []string{
		`In\u0000put\u202e\n<script>`, // the issue's
		`In\u0000put`, `evil\u202egnp.exe`, `two\nlines`, `tab\there`, `two\u2028lines`, `two\u2029paragraphs`,
		`zero\u200bwidth`, `bom\ufeff`, `isolate\u2066x\u2069`, `private\ue000`,
	} {
		h := newHarness(t)
		rec := h.serve(http.MethodPut, orgPath, bearer(t, auth.PermOrgAdmin), `{"name":"`+name+`"}`)
		wantProblem(t, rec, http.StatusBadRequest, string(domain.CodeInvalidParameter), "name")
		if h.commands.calls != 0 {
			t.Errorf("%s: ran %+v", name, h.commands.got)
		}
	}
	// Names are stored in NFC; joiners, which some scripts need, stay.
	for body, want := range map[string]string{
		`{"name":"Cafe\u0301"}`:                     "Caf\u00e9",
		`{"name":"\u0645\u06cc\u200c\u062e\u0648"}`: "\u0645\u06cc\u200c\u062e\u0648",
	} {
		h := newHarness(t)
		h.serve(http.MethodPut, orgPath, bearer(t, auth.PermOrgAdmin), body)
		if cmd, ok := h.commands.got.(commands.RegisterOrganization); !ok || cmd.Name != want {
			t.Errorf("%s ran %+v; want the name %q", body, h.commands.got, want)
		}
	}
}

// TestCreateInvitationsStoresOnlyTheEmailRulesForm: what the command gets
// is what NormalizeEmail gives; lookalikes are refused or stay themselves,
// never the ASCII address they imitate.
func TestCreateInvitationsStoresOnlyTheEmailRulesForm(t *testing.T) {
	for _, tc := range []struct {
		name   string
		emails []string
		want   []string // nil: refused, with fields
		fields []string
	}{
		{"mixed-case ASCII", []string{"KATE@Corp.Test"}, []string{"kate@corp.test"}, nil},
		{"internationalized", []string{"J\u00f6rg@b\u00fccher.example"}, []string{"j\u00f6rg@xn--bcher-kva.example"}, nil},
		{"Cyrillic and Greek lookalikes are other addresses", []string{"kate@corp.test", "k\u0430te@corp.test", "b\u03bfb@corp.test", "k\u0131m@corp.test"},
			[]string{"kate@corp.test", "k\u0430te@corp.test", "b\u03bfb@corp.test", "k\u0131m@corp.test"}, nil},
		{"KELVIN SIGN, LONG S, full-width", []string{"kate@corp.test", "\u212aate@corp.test", "\u017fam@corp.test", "\uff4bate@corp.test"}, nil,
			[]string{"emails[1]", "emails[2]", "emails[3]"}},
		{"repeated in ASCII case only", []string{"kate@corp.test", "KATE@corp.test"}, nil, []string{"emails[1]"}},
		{"IP literal and numeric domains", []string{"a@[127.0.0.1]", "a@127.0.0.1"}, nil, []string{"emails[0]", "emails[1]"}},
		{"local part over 64 octets", []string{strings.Repeat("a", 65) + "@corp.test", strings.Repeat("a", 64) + "@corp.test"}, nil, []string{"emails[0]"}},
		{"address over 254 octets", []string{strings.Repeat("a", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("d", 60) + ".t",
			strings.Repeat("a", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("d", 59) + ".t"}, nil, []string{"emails[0]"}},
		{"bidi override", []string{"kate\u202e@corp.test"}, nil, []string{"emails[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string][]string{"emails": tc.emails})
			h := newHarness(t)
			rec := h.serve(http.MethodPost, createPath, bearer(t, auth.PermOrgUserInvite), string(body))
			if tc.want == nil {
				wantProblem(t, rec, http.StatusBadRequest, string(domain.CodeInvalidParameter), tc.fields...)
				if h.commands.calls != 0 {
					t.Errorf("ran %+v", h.commands.got)
				}
				return
			}
			if cmd, ok := h.commands.got.(commands.CreateInvitations); !ok || !reflect.DeepEqual(cmd.Emails, tc.want) {
				t.Errorf("ran %+v; want the emails %q", h.commands.got, tc.want)
			}
		})
	}
}
