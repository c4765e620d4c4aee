package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// everyPermission is a token of user-1 holding every permission in acme.
func everyPermission(t *testing.T) string {
	return bearer(t, auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin)
}

// servedHarness is a harness whose answers go through a real server, so
// that net/http does to them what it does on the wire (HEAD's body dropped,
// Content-Length set).
func servedHarness(t *testing.T, configure ...func(*Deps)) (*harness, *httptest.Server) {
	h := newHarness(t, configure...)
	h.queries.match = projections.TokenMatch{Found: true, Invitation: *h.queries.invitation, Organization: h.queries.orgs["acme"]}
	h.queries.member = &projections.Member{OrganizationID: "acme", UserID: "user-2", Email: "bob@example.com", Role: domain.RoleMember,
		JoinedAt: testNow, InvitationID: testInvitationID, Position: 9}
	srv := httptest.NewServer(h.handler)
	t.Cleanup(srv.Close)
	return h, srv
}

// send makes one request to srv; headers are name, value pairs.
func send(t *testing.T, srv *httptest.Server, method, path, token string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	// No transparent decompression: the tests see what was sent.
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// documentedGets are the API's paths with a GET in the OpenAPI document,
// their parameters filled with what the harness serves: every GET route
// (TestOpenAPIRoutes in internal/service holds the document to the router).
func documentedGets(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{organization_id}", "acme", "{invitation_id}", testInvitationID,
		"{invitation_token}", testToken, "{user_id}", "user-2", "{webhook_id}", testWebhookID)
	var paths []string
	for path, item := range doc.Paths {
		if _, ok := item["get"]; ok && item["servers"] == nil {
			paths = append(paths, "/api/v1"+fill.Replace(path))
		}
	}
	slices.Sort(paths)
	if len(paths) < 9 {
		t.Fatalf("the document lists %d GET paths: %v", len(paths), paths)
	}
	return paths
}

// sameHeaders are those a HEAD answer must share with its GET.
var sameHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", "ETag", "Cache-Control", "Vary", "X-Error-Codes", "Allow"}

// TestHeadOnEveryGetRoute: HEAD answers as GET without the body. gzhttp
// compresses no HEAD answer (for a bug of nginx, golang.org/issue/5522),
// so one that accepts gzip is told of the uncompressed answer.
func TestHeadOnEveryGetRoute(t *testing.T) {
	_, srv := servedHarness(t)
	token := everyPermission(t)
	for _, path := range documentedGets(t) {
		get, body := send(t, srv, http.MethodGet, path, token)
		if get.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("GET %s answered %d %q", path, get.StatusCode, body)
		}
		for _, enc := range []string{"", "gzip"} {
			head, headBody := send(t, srv, http.MethodHead, path, token, "Accept-Encoding", enc)
			if head.StatusCode != get.StatusCode || len(headBody) != 0 {
				t.Errorf("HEAD %s answered %d with %d bytes; GET %d", path, head.StatusCode, len(headBody), get.StatusCode)
			}
			for _, name := range sameHeaders {
				if !slices.Equal(head.Header.Values(name), get.Header.Values(name)) {
					t.Errorf("HEAD %s (Accept-Encoding %q): %s %q; GET %q", path, enc, name, head.Header.Values(name), get.Header.Values(name))
				}
			}
		}
	}
	// An error is the same too, without its envelope.
	head, body := send(t, srv, http.MethodHead, orgPath, "")
	if head.StatusCode != http.StatusUnauthorized || len(body) != 0 || head.Header.Get("X-Error-Codes") != codeInvalidAuthentication {
		t.Errorf("HEAD without a token answered %d %v %q", head.StatusCode, head.Header, body)
	}
}

func TestConditionParsing(t *testing.T) {
	tests := []struct {
		lines  []string
		weak   bool
		want   domain.Tags
		parses bool
	}{
		{nil, false, domain.Tags{}, true},
		{[]string{`*`}, false, domain.Tags{Given: true, Any: true}, true},
		{[]string{` * `}, true, domain.Tags{Given: true, Any: true}, true},
		{[]string{`"v1"`}, false, domain.Tags{Given: true, List: []string{"v1"}}, true},
		{[]string{`"v1", "v2.3-expired"`}, false, domain.Tags{Given: true, List: []string{"v1", "v2.3-expired"}}, true},
		{[]string{`"v1"`, `"v2"`}, false, domain.Tags{Given: true, List: []string{"v1", "v2"}}, true},
		{[]string{` ,"v1" ,, W/"v2",`}, false, domain.Tags{Given: true, List: []string{"v1"}}, true},
		{[]string{`W/"v2"`}, true, domain.Tags{Given: true, List: []string{"v2"}}, true},
		{[]string{`W/"v2"`}, false, domain.Tags{Given: true}, true},
		{[]string{`""`}, false, domain.Tags{Given: true, List: []string{""}}, true},
		{[]string{`v1`}, false, domain.Tags{}, false},
		{[]string{`"v1`}, false, domain.Tags{}, false},
		{[]string{`"v1" "v2"`}, false, domain.Tags{}, false},
		{[]string{`*, "v1"`}, false, domain.Tags{}, false},
		{[]string{`"v 1"`}, false, domain.Tags{}, false},
		{[]string{`w/"v1"`}, true, domain.Tags{}, false},
		{[]string{`,`}, false, domain.Tags{}, false},
		{[]string{``}, false, domain.Tags{}, false},
	}
	for _, tt := range tests {
		got, ok := condition(tt.lines, tt.weak)
		if ok != tt.parses || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("condition(%q, weak %v) = %+v, %v; want %+v, %v", tt.lines, tt.weak, got, ok, tt.want, tt.parses)
		}
	}
}

func TestConditionalReads(t *testing.T) {
	token := everyPermission(t)
	h, srv := servedHarness(t)
	h.queries.orgs["acme"] = projections.Organization{ID: "acme", Name: "Acme", CreatedAt: testNow, Version: 2}
	for path, tag := range map[string]string{
		orgPath:                     `"v2"`,
		invitationPath:              `"v1.2"`,
		orgPath + "/members/user-2": `"` + testInvitationID + `"`,
	} {
		res, body := send(t, srv, http.MethodGet, path, token)
		if res.StatusCode != http.StatusOK || res.Header.Get("ETag") != tag || len(body) == 0 {
			t.Fatalf("GET %s: %d, ETag %q; want 200 and %s", path, res.StatusCode, res.Header.Get("ETag"), tag)
		}
		for _, cond := range [][]string{
			{"If-None-Match", tag}, {"If-None-Match", "W/" + tag}, {"If-None-Match", `"other", ` + tag}, {"If-None-Match", "*"},
			{"If-None-Match", tag, "If-Match", tag},
		} {
			res, body := send(t, srv, http.MethodGet, path, token, cond...)
			if res.StatusCode != http.StatusNotModified || len(body) != 0 || res.Header.Get("ETag") != tag || res.Header.Get("Cache-Control") != cachePrivate {
				t.Errorf("GET %s %q: %d %v %q; want 304 with the ETag", path, cond, res.StatusCode, res.Header, body)
			}
		}
		for _, cond := range [][]string{{"If-None-Match", `"other"`}, {"If-Match", tag}, {"If-Match", "*"}, {"If-Match", `"other", ` + tag}} {
			if res, _ := send(t, srv, http.MethodGet, path, token, cond...); res.StatusCode != http.StatusOK {
				t.Errorf("GET %s %q: %d; want 200", path, cond, res.StatusCode)
			}
		}
		// If-Match compares strongly: a weak tag never matches. It comes before If-None-Match.
		for _, cond := range [][]string{{"If-Match", `"other"`}, {"If-Match", "W/" + tag}, {"If-Match", `"other"`, "If-None-Match", tag}} {
			rec := h.serve(http.MethodGet, path, token, "", cond...)
			wantProblem(t, rec, http.StatusPreconditionFailed, string(domain.CodePreconditionFailed))
		}
		wantProblem(t, h.serve(http.MethodGet, path, token, "", "If-None-Match", "v2"), http.StatusBadRequest, string(domain.CodeInvalidParameter), "If-None-Match")
	}
	// An invitation's ETag follows its version, its organization's, and its expiry.
	inv := h.queries.invitation
	inv.Version = 3
	if res, _ := send(t, srv, http.MethodGet, invitationPath, token); res.Header.Get("ETag") != `"v3.2"` {
		t.Errorf("ETag %q; want \"v3.2\"", res.Header.Get("ETag"))
	}
	inv.ExpiresAt = testNow.Add(-time.Second)
	if res, _ := send(t, srv, http.MethodGet, invitationPath, token, "If-None-Match", `"v3.2"`); res.StatusCode != http.StatusOK || res.Header.Get("ETag") != `"v3.2-expired"` {
		t.Errorf("past its expiry: %d, ETag %q; want 200 and \"v3.2-expired\"", res.StatusCode, res.Header.Get("ETag"))
	}
	// Missing resources answer 404 whatever the conditions.
	h.queries.member = nil
	wantProblem(t, h.serve(http.MethodGet, orgPath+"/members/user-2", token, "", "If-Match", "*"), http.StatusNotFound, string(domain.CodeMemberNotFound), "user_id")
}

func TestConditionalChangesPassTheirPrecondition(t *testing.T) {
	token := everyPermission(t)
	want := domain.Precondition{IfMatch: domain.Tags{Given: true, List: []string{"v1.1", "v1.2"}}, IfNoneMatch: domain.Tags{Given: true, Any: true}}
	headers := []string{"If-Match", `"v1.1"`, "If-Match", `"v1.2"`, "If-None-Match", "*"}
	for _, tt := range []struct {
		method, path, body string
		precondition       func(any) domain.Precondition
	}{
		{http.MethodPut, orgPath, `{"name":"Acme"}`, func(c any) domain.Precondition { return c.(commands.RegisterOrganization).Precondition }},
		{http.MethodDelete, invitationPath, "", func(c any) domain.Precondition { return c.(commands.CancelInvitation).Precondition }},
		{http.MethodPost, invitationPath + "/resend", "", func(c any) domain.Precondition { return c.(commands.ResendInvitation).Precondition }},
		{http.MethodDelete, orgPath + "/members/user-2", "", func(c any) domain.Precondition { return c.(commands.RemoveMember).Precondition }},
	} {
		h := newHarness(t)
		h.commands.org = domain.Organization{ID: "acme", Name: "Acme", CreatedAt: testNow, Version: 4}
		h.commands.resend.Invitation.Invitation = testInvitation()
		rec := h.serve(tt.method, tt.path, token, tt.body, headers...)
		if rec.Code >= 300 {
			t.Fatalf("%s %s answered %d %s", tt.method, tt.path, rec.Code, rec.Body)
		}
		if got := tt.precondition(h.commands.got); !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s ran with %+v; want %+v", tt.method, tt.path, got, want)
		}
		if tt.method == http.MethodPut && rec.Header().Get("ETag") != `"v4"` {
			t.Errorf("PUT answered ETag %q; want the organization's new state \"v4\"", rec.Header().Get("ETag"))
		}
		h.commands.err = domain.ErrPreconditionFailed
		wantProblem(t, h.serve(tt.method, tt.path, token, tt.body, headers...), http.StatusPreconditionFailed, string(domain.CodePreconditionFailed))
		calls := h.commands.calls
		wantProblem(t, h.serve(tt.method, tt.path, token, tt.body, "If-Match", "v1"), http.StatusBadRequest, string(domain.CodeInvalidParameter), "If-Match")
		if h.commands.calls != calls {
			t.Errorf("%s %s with a malformed If-Match ran a command", tt.method, tt.path)
		}
	}
}

func TestCacheControl(t *testing.T) {
	token := everyPermission(t)
	h, srv := servedHarness(t)
	h.commands.resend.Invitation.Invitation = testInvitation()
	h.commands.accept.Membership = domain.Membership{UserID: "user-1", Active: true}
	h.commands.create.Invitations = []commands.CreatedInvitation{{Invitation: testInvitation(), Token: testToken}}
	for _, tt := range []struct{ method, path, body, want string }{
		{http.MethodPost, orgPath + "/invitations", `{"emails":["ada@example.com"]}`, cacheNoStore},
		{http.MethodPost, invitationPath + "/resend", "", cacheNoStore},
		{http.MethodGet, tokenPath, "", cacheNoStore},
		{http.MethodPost, tokenPath + "/_accept", "", cacheNoStore},
		{http.MethodGet, orgPath, "", cachePrivate},
		{http.MethodPut, orgPath, `{"name":"Acme"}`, cachePrivate},
		{http.MethodGet, orgPath + "/invitations", "", cachePrivate},
		{http.MethodGet, invitationPath, "", cachePrivate},
		{http.MethodDelete, invitationPath, "", cachePrivate},
		{http.MethodPost, invitationPath + "/accept", "", cachePrivate},
		{http.MethodGet, invitationPath + "/events", "", cachePrivate},
		{http.MethodGet, orgPath + "/events", "", cachePrivate},
		{http.MethodGet, orgPath + "/members", "", cachePrivate},
		{http.MethodGet, orgPath + "/members/user-2", "", cachePrivate},
		{http.MethodDelete, orgPath + "/members/user-2", "", cachePrivate},
	} {
		for _, tok := range []string{token, ""} { // the answer, and an error
			rec := h.serve(tt.method, tt.path, tok, tt.body)
			if got := rec.Header().Get("Cache-Control"); got != tt.want || (tok != "" && rec.Code >= 300) {
				t.Errorf("%s %s answered %d, Cache-Control %q; want %q", tt.method, tt.path, rec.Code, got, tt.want)
			}
		}
	}
	if res, _ := send(t, srv, http.MethodGet, "/api/v1/openapi.json", ""); res.Header.Get("Cache-Control") != "" {
		t.Errorf("the OpenAPI document: Cache-Control %q", res.Header.Get("Cache-Control"))
	}
}

var consoleOrigins = []string{"https://console.example.com", "http://localhost:5173"}

func withCORS(d *Deps) { d.CORSOrigins = consoleOrigins }

// corsHeaders are the answer's CORS headers.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for name, v := range h {
		if strings.HasPrefix(name, "Access-Control-") {
			out[name] = v
		}
	}
	return out
}

func TestCORSPreflight(t *testing.T) {
	_, srv := servedHarness(t, withCORS)
	for _, origin := range consoleOrigins {
		res, body := send(t, srv, http.MethodOptions, invitationPath, "", "Origin", origin,
			"Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization,if-match")
		want := http.Header{"Access-Control-Allow-Origin": {origin}, "Access-Control-Allow-Methods": {"DELETE"},
			"Access-Control-Allow-Headers": {"authorization,if-match"}, "Access-Control-Max-Age": {"600"}}
		if res.StatusCode != http.StatusNoContent || len(body) != 0 || !reflect.DeepEqual(corsHeaders(res.Header), want) {
			t.Errorf("preflight from %s: %d %v %q; want 204 with %v", origin, res.StatusCode, res.Header, body, want)
		}
		if vary := strings.Join(res.Header.Values("Vary"), ", "); !strings.Contains(vary, "Origin") {
			t.Errorf("preflight from %s: Vary %q", origin, vary)
		}
	}
	// Exactly the configured origins: no lookalike is one of them.
	for _, origin := range []string{"https://Console.example.com", "HTTPS://console.example.com", "http://console.example.com",
		"https://console.example.com:443", "https://console.example.com:8443", "https://console.example.com.",
		"https://console.example.com/", "https://console.example.com.evil.test", "https://evil-console.example.com",
		"https://console.example.co", "null", "http://localhost:5174", "http://127.0.0.1:5173", ""} {
		res, body := send(t, srv, http.MethodOptions, invitationPath, "", "Origin", origin, "Access-Control-Request-Method", "GET")
		wantRefused(t, "preflight from "+origin, res, body, http.StatusForbidden, string(domain.CodeForbidden))
		res, body = send(t, srv, http.MethodGet, orgPath, everyPermission(t), "Origin", origin)
		if res.StatusCode != http.StatusOK || len(corsHeaders(res.Header)) != 0 {
			t.Errorf("GET from %s: %d %v; want 200 without CORS headers", origin, res.StatusCode, res.Header)
		}
	}
	// An allowed origin asking what the API does not take.
	res, body := send(t, srv, http.MethodOptions, invitationPath, "", "Origin", consoleOrigins[0],
		"Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization,x-custom")
	wantRefused(t, "preflight asking x-custom", res, body, http.StatusForbidden, string(domain.CodeForbidden))
	res, body = send(t, srv, http.MethodOptions, invitationPath, "", "Origin", consoleOrigins[0], "Access-Control-Request-Method", "PATCH")
	wantRefused(t, "preflight asking PATCH", res, body, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	if res.Header.Get("Allow") != "DELETE, GET, HEAD" {
		t.Errorf("Allow %q", res.Header.Get("Allow"))
	}
	res, body = send(t, srv, http.MethodOptions, invitationPath+"/resend", "", "Origin", consoleOrigins[0], "Access-Control-Request-Method", "DELETE")
	wantRefused(t, "preflight asking DELETE of a POST route", res, body, http.StatusMethodNotAllowed, codeMethodNotAllowed)
}

// wantRefused checks an answer that is an error envelope without CORS headers.
func wantRefused(t *testing.T, what string, res *http.Response, body []byte, status int, code string) {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || res.StatusCode != status || len(env.Errors) == 0 || env.Errors[0].Code != code || env.Errors[0].Message == "" {
		t.Errorf("%s: %d %q; want %d %s", what, res.StatusCode, body, status, code)
	}
	if res.Header.Get("X-Error-Codes") != code || len(corsHeaders(res.Header)) != 0 {
		t.Errorf("%s: headers %v; want X-Error-Codes %s and no CORS header", what, res.Header, code)
	}
}

func TestCORSOnAnswers(t *testing.T) {
	h, srv := servedHarness(t, withCORS)
	origin := consoleOrigins[1]
	res, _ := send(t, srv, http.MethodGet, orgPath, everyPermission(t), "Origin", origin)
	expose := "X-Request-Id, X-Error-Codes, Etag, Idempotent-Replayed, Retry-After, Allow"
	if res.Header.Get("Access-Control-Allow-Origin") != origin || res.Header.Get("Access-Control-Expose-Headers") != expose ||
		res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("GET from %s: %v", origin, res.Header)
	}
	if vary := strings.Join(res.Header.Values("Vary"), ", "); !strings.Contains(vary, "Origin") || !strings.Contains(vary, "Accept-Encoding") {
		t.Errorf("Vary %q", vary)
	}
	// Errors too, so that the page can read the envelope.
	h.queries.err = domain.ErrUnavailable
	res, _ = send(t, srv, http.MethodGet, orgPath, everyPermission(t), "Origin", origin)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("an error to %s: %d %v", origin, res.StatusCode, res.Header)
	}
}

// With no origin configured there is no CORS header at all, and a
// preflight is refused in the envelope.
func TestNoCORSByDefault(t *testing.T) {
	_, srv := servedHarness(t)
	res, _ := send(t, srv, http.MethodGet, orgPath, everyPermission(t), "Origin", consoleOrigins[0])
	if len(corsHeaders(res.Header)) != 0 || slices.Contains(res.Header.Values("Vary"), "Origin") {
		t.Errorf("GET with an Origin: %v", res.Header)
	}
	res, body := send(t, srv, http.MethodOptions, orgPath, "", "Origin", consoleOrigins[0], "Access-Control-Request-Method", "GET")
	wantRefused(t, "preflight", res, body, http.StatusForbidden, string(domain.CodeForbidden))
	// An OPTIONS that is no preflight is a method the route lacks, as before.
	res, body = send(t, srv, http.MethodOptions, orgPath, "")
	wantRefused(t, "OPTIONS", res, body, http.StatusMethodNotAllowed, codeMethodNotAllowed)
}

func TestCheckOrigin(t *testing.T) {
	for _, ok := range []string{"https://console.example.com", "http://localhost:5173", "http://127.0.0.1:8080", "http://[::1]:3000", "https://xn--bcher-kva.example"} {
		if err := CheckOrigin(ok); err != nil {
			t.Errorf("CheckOrigin(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"*", "null", "", "console.example.com", "ftp://console.example.com", "https://Console.example.com",
		"https://console.example.com/", "https://console.example.com/app", "https://console.example.com:443", "http://localhost:80",
		"https://console.example.com:", "https://user@console.example.com", "https://console.example.com?x", "https://bücher.example", "https://*.example.com"} {
		if err := CheckOrigin(bad); err == nil {
			t.Errorf("CheckOrigin(%q) took it", bad)
		}
	}
}

// decompress reads body in the content coding named.
func decompress(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		return body
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return out
}

func TestCompression(t *testing.T) {
	h, srv := servedHarness(t)
	for _, tt := range []struct{ acceptEncoding, coding string }{
		{"", ""},
		{"gzip", "gzip"},
		{"deflate, gzip", "gzip"},           // curl --compressed without zstd
		{"deflate, gzip, br, zstd", "zstd"}, // curl --compressed 7.88 and later
		{"gzip, deflate, br, zstd", "zstd"}, // browsers
		{"gzip;q=0, identity", ""},          // refused
		{"br", ""},                          // none the service writes
	} {
		res, body := send(t, srv, http.MethodGet, "/api/v1/openapi.json", "", "Accept-Encoding", tt.acceptEncoding)
		if got := res.Header.Get("Content-Encoding"); got != tt.coding {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q; want %q", tt.acceptEncoding, got, tt.coding)
		}
		if doc := decompress(t, tt.coding, body); !bytes.Equal(doc, openAPIDocument) {
			t.Errorf("Accept-Encoding %q: %d bytes that are not the document", tt.acceptEncoding, len(body))
		}
		if tt.coding != "" && len(body) > len(openAPIDocument)/3 {
			t.Errorf("%s: %d bytes of %d", tt.coding, len(body), len(openAPIDocument))
		}
		if !slices.Contains(res.Header.Values("Vary"), "Accept-Encoding") {
			t.Errorf("Vary %q", res.Header.Values("Vary"))
		}
	}
	// A small answer stays as it is.
	if res, _ := send(t, srv, http.MethodGet, orgPath, everyPermission(t), "Accept-Encoding", "gzip"); res.Header.Get("Content-Encoding") != "" {
		t.Errorf("a small answer is %s", res.Header.Get("Content-Encoding"))
	}
	// A large tagged answer keeps its ETag when compressed, and that ETag
	// revalidates it.
	h.queries.orgs["acme"] = projections.Organization{ID: "acme", Name: strings.Repeat("Acme ", 200), CreatedAt: testNow, Version: 1}
	plain, plainBody := send(t, srv, http.MethodGet, invitationPath, everyPermission(t))
	zipped, zippedBody := send(t, srv, http.MethodGet, invitationPath, everyPermission(t), "Accept-Encoding", "gzip")
	if zipped.Header.Get("Content-Encoding") != "gzip" || zipped.Header.Get("ETag") != plain.Header.Get("ETag") || plain.Header.Get("ETag") != `"v1.1"` {
		t.Errorf("ETag %q plain, %q %s", plain.Header.Get("ETag"), zipped.Header.Get("ETag"), zipped.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(decompress(t, "gzip", zippedBody), plainBody) {
		t.Error("the compressed answer is not the plain one")
	}
	if res, body := send(t, srv, http.MethodGet, invitationPath, everyPermission(t), "Accept-Encoding", "gzip", "If-None-Match", `"v1.1"`); res.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("revalidated: %d %q", res.StatusCode, body)
	}
}

// A handler that flushes is streamed through the whole stack, compressed
// or not: the client reads the first part before the handler goes on.
func TestFlushReachesTheClient(t *testing.T) {
	next := make(chan struct{})
	stream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(bytes.Repeat([]byte("first "), 300))
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		<-next
		_, _ = w.Write([]byte("second"))
	})
	h := newHarness(t, func(d *Deps) { d.Extra = map[string]http.Handler{"/stream": stream} })
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	for _, enc := range []string{"", "gzip"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/stream", nil)
		req.Header.Set("Accept-Encoding", enc)
		res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = res.Body
		if enc == "gzip" {
			if r, err = gzip.NewReader(res.Body); err != nil {
				t.Fatal(err)
			}
		}
		first := make([]byte, 6)
		if _, err := io.ReadFull(r, first); err != nil || string(first) != "first " {
			t.Fatalf("%q: read %q, %v before the handler went on", enc, first, err)
		}
		next <- struct{}{}
		rest, _ := io.ReadAll(r)
		res.Body.Close()
		if !strings.HasSuffix(string(rest), "second") {
			t.Errorf("%q: the rest %q", enc, rest)
		}
	}
}
