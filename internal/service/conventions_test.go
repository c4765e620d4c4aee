package service_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/httpapi"
)

// The HTTP conventions end to end (README "HTTP conventions"): HEAD, ETag
// and conditional requests, Cache-Control, CORS and compression.

// TestHeadOnEveryRoute sends HEAD and GET to every path of the OpenAPI
// document that has a GET (TestOpenAPIRoutes holds the document to the
// router, so no route is left out), each naming a resource that exists:
// the same status and headers, no body. do() checks each answer against
// the document as well.
func TestHeadOnEveryRoute(t *testing.T) {
	s := startStack(t, "")
	s.register("acme")
	ada := s.invite("ada@example.com")[0]
	accepted := s.do("POST", api+"/invitations/"+ada["token"].(string)+"/_accept", s.invitee("user-ada", "ada@example.com"), nil)
	expect(t, accepted, http.StatusOK)
	hook := s.do("POST", api+"/acme/webhooks", s.admin, map[string]any{"url": "https://hooks.example.com/in", "events": []string{"*"}})
	expect(t, hook, http.StatusCreated)
	c, err := theContract()
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{organization_id}", "acme", "{invitation_id}", ada["id"].(string),
		"{invitation_token}", ada["token"].(string), "{user_id}", "user-ada", "{webhook_id}", hook.str("id"))
	gets := 0
	for _, path := range c.doc.Paths.InMatchingOrder() {
		item := c.doc.Paths.Value(path)
		if item.Get == nil {
			continue
		}
		gets++
		url := fill.Replace(path)
		var get, head response
		if len(item.Servers) == 0 {
			url = "/api/v1" + url
			get, head = s.do("GET", url, s.admin, nil), s.do("HEAD", url, s.admin, nil)
		} else { // the operations endpoints answer in plain text
			get, head = s.plain(t, "GET", url), s.plain(t, "HEAD", url)
		}
		if get.status != http.StatusOK || head.status != http.StatusOK || head.raw != "" {
			t.Errorf("%s: GET %d, HEAD %d %q", url, get.status, head.status, head.raw)
		}
		// The client took GET's answer gzip-compressed when it was large
		// (and took Content-Length off); HEAD's is never compressed.
		for _, name := range []string{"Content-Type", "ETag", "Cache-Control", "Vary", "Allow"} {
			if !slices.Equal(head.header.Values(name), get.header.Values(name)) {
				t.Errorf("%s: HEAD's %s %q, GET's %q", url, name, head.header.Values(name), get.header.Values(name))
			}
		}
	}
	if gets < 12 {
		t.Fatalf("%d GET paths in the document", gets)
	}
}

// plain sends a request outside /api/v1 and checks its answer against the
// document.
func (s *stack) plain(t *testing.T, method, path string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if err := validateExchange(method, req.URL.String(), req.Header, nil, res.StatusCode, res.Header, body); err != nil {
		t.Errorf("%s %s: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, raw: string(body)}
}

func TestConditionalRequests(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		org := api + "/acme"
		created := s.do("PUT", org, s.admin, map[string]any{"name": "Acme"}, "If-None-Match", "*")
		expect(t, created, http.StatusCreated)
		if created.header.Get("ETag") != `"v1"` {
			t.Fatalf("registered: ETag %q", created.header.Get("ETag"))
		}
		expect(t, s.do("PUT", org, s.admin, map[string]any{"name": "Acme"}, "If-None-Match", "*"), http.StatusPreconditionFailed, "root.precondition_failed")
		expect(t, s.do("PUT", api+"/nowhere", s.token("a", "", map[string][]string{"nowhere": {"org.admin"}}), map[string]any{"name": "N"}, "If-Match", "*"),
			http.StatusPreconditionFailed, "root.precondition_failed")
		expect(t, s.do("GET", org, s.admin, nil, "If-None-Match", `"v1"`), http.StatusNotModified)
		renamed := s.do("PUT", org, s.admin, map[string]any{"name": "Acme Corp"}, "If-Match", `"v1"`)
		expect(t, renamed, http.StatusOK)
		if renamed.header.Get("ETag") != `"v2"` {
			t.Fatalf("renamed: ETag %q", renamed.header.Get("ETag"))
		}
		expect(t, s.do("PUT", org, s.admin, map[string]any{"name": "Lost update"}, "If-Match", `"v1"`), http.StatusPreconditionFailed, "root.precondition_failed")
		got := s.do("GET", org, s.admin, nil, "If-None-Match", `"v1"`)
		expect(t, got, http.StatusOK)
		if got.str("name") != "Acme Corp" || got.header.Get("ETag") != `"v2"` {
			t.Fatalf("after the refused rename: %s, ETag %q", got.raw, got.header.Get("ETag"))
		}

		// An invitation's ETag names its version and its organization's.
		adaID := s.invite("ada@example.com")[0]["id"].(string)
		inv := api + "/acme/invitations/" + adaID
		read := s.do("GET", inv, s.admin, nil)
		if tag := read.header.Get("ETag"); tag != `"v1.2"` {
			t.Fatalf("invitation: ETag %q", tag)
		}
		expect(t, s.do("GET", inv, s.admin, nil, "If-None-Match", `"v1.2"`), http.StatusNotModified)
		resent := s.do("POST", inv+"/resend", s.admin, map[string]any{}, "If-Match", `"v1.2"`)
		expect(t, resent, http.StatusOK)
		if tag := resent.header.Get("ETag"); tag != `"v2.2"` || s.do("GET", inv, s.admin, nil).header.Get("ETag") != tag {
			t.Fatalf("resent: ETag %q, not the state a read then names", tag)
		}
		expect(t, s.do("DELETE", inv, s.admin, nil, "If-Match", `"v1.2"`), http.StatusPreconditionFailed, "root.precondition_failed")
		expect(t, s.do("PUT", org, s.admin, map[string]any{"name": "Acme 3"}), http.StatusOK)
		expect(t, s.do("GET", inv, s.admin, nil, "If-None-Match", `"v2.2"`), http.StatusOK) // the name it shows changed
		expect(t, s.do("DELETE", inv, s.admin, nil, "If-Match", `"v2.2"`), http.StatusPreconditionFailed, "root.precondition_failed")
		expect(t, s.do("DELETE", inv, s.admin, nil, "If-Match", `"v2.3"`), http.StatusNoContent)
		if status := s.do("GET", inv, s.admin, nil).str("status"); status != "cancelled" {
			t.Fatalf("status %q after the cancel", status)
		}

		// A member's ETag is the invitation it joined by.
		bob := s.invite("bob@example.com")[0]
		expect(t, s.do("POST", api+"/invitations/"+bob["token"].(string)+"/_accept", s.invitee("user-bob", "bob@example.com"), nil), http.StatusOK)
		member := api + "/acme/members/user-bob"
		m := s.do("GET", member, s.admin, nil)
		if tag := m.header.Get("ETag"); tag != `"`+bob["id"].(string)+`"` || m.str("user_id") != "user-bob" {
			t.Fatalf("member: %s, ETag %q", m.raw, tag)
		}
		expect(t, s.do("DELETE", member, s.admin, nil, "If-Match", `"`+adaID+`"`), http.StatusPreconditionFailed, "root.precondition_failed")
		expect(t, s.do("GET", member, s.admin, nil, "If-None-Match", m.header.Get("ETag")), http.StatusNotModified)
		expect(t, s.do("DELETE", member, s.admin, nil, "If-Match", m.header.Get("ETag")), http.StatusNoContent)
		expect(t, s.do("GET", member, s.admin, nil), http.StatusNotFound, "organization.member_not_found")
		expect(t, s.do("DELETE", member, s.admin, nil, "If-Match", "*"), http.StatusNotFound, "organization.member_not_found")
	})
}

// TestIfMatchRace: of concurrent changes naming one state in If-Match,
// spread over two replicas, exactly one is made; the others answer 412,
// and the stream holds one event.
func TestIfMatchRace(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	redisURL := testkit.Redis(t)
	key, kek := testkit.KeyFile(t), testkit.KEKFile(t) // replicas sign and seal with one key each
	shared := func(c *service.Config) {
		c.NATSURL, c.RedisPrefix, c.SigningKey, c.KEKFile = ns.ClientURL(), "ifmatch:", key, kek
	}
	replicas := []*stack{startStack(t, redisURL, shared), startStack(t, redisURL, shared)}
	s := replicas[0]
	s.register("acme")
	const n = 16
	once := func(what string, answers []response, won int, subject string) {
		t.Helper()
		wins, refused := 0, 0
		for _, r := range answers {
			switch {
			case r.status == won:
				wins++
			case r.status == http.StatusPreconditionFailed && slices.Equal(r.errorCodes(), []string{"root.precondition_failed"}):
				refused++
			default:
				t.Errorf("%s: answered %d %s; want %d or 412", what, r.status, r.raw, won)
			}
		}
		if wins != 1 || refused != n-1 {
			t.Errorf("%s: %d won, %d refused; want 1 and %d", what, wins, refused, n-1)
		}
		if got := subjectCount(t, ns, subject); got != 1 {
			t.Errorf("%s: %d events on %s; want 1", what, got, subject)
		}
	}

	inv := s.invite("race@example.com")[0]
	id := inv["id"].(string)
	tag := s.do("GET", api+"/acme/invitations/"+id, s.admin, nil).header.Get("ETag")
	once("resends", concurrently(n, func(i int) response {
		return replicas[i%2].do("POST", api+"/acme/invitations/"+id+"/resend", s.admin, map[string]any{}, "If-Match", tag)
	}), http.StatusOK, "invitations.acme."+id+".resent")

	tag = s.do("GET", api+"/acme/invitations/"+id, s.admin, nil).header.Get("ETag")
	once("cancels", concurrently(n, func(i int) response {
		return replicas[i%2].do("DELETE", api+"/acme/invitations/"+id, s.admin, nil, "If-Match", tag)
	}), http.StatusNoContent, "invitations.acme."+id+".cancelled")

	once("renames", concurrently(n, func(i int) response {
		return replicas[i%2].do("PUT", api+"/acme", s.admin, map[string]any{"name": fmt.Sprint("Acme ", i)}, "If-Match", `"v1"`)
	}), http.StatusOK, "organizations.acme.renamed")
}

// TestCacheControlOnTokenAnswers: every answer that carries a token, or
// answers a path holding one, is no-store; the other authenticated ones
// private.
func TestCacheControlOnTokenAnswers(t *testing.T) {
	s := startStack(t, "")
	s.register("acme")
	noStore := func(what string, r response) {
		t.Helper()
		if r.status >= 300 || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, Cache-Control %q; want no-store", what, r.status, r.header.Get("Cache-Control"))
		}
	}
	body := map[string]any{"emails": []string{"ada@example.com"}}
	created := s.do("POST", api+"/acme/invitations", s.admin, body, "Idempotency-Key", "k1")
	noStore("create", created)
	noStore("create replayed", s.do("POST", api+"/acme/invitations", s.admin, body, "Idempotency-Key", "k1"))
	id := created.list("invitations")[0]["id"].(string)
	resent := s.do("POST", api+"/acme/invitations/"+id+"/resend", s.admin, map[string]any{})
	noStore("resend", resent)
	token := resent.str("token")
	noStore("look-up", s.do("GET", api+"/invitations/"+token, "", nil))
	noStore("accept by token", s.do("POST", api+"/invitations/"+token+"/_accept", s.invitee("user-ada", "ada@example.com"), nil))
	for _, path := range []string{api + "/acme", api + "/acme/invitations", api + "/acme/invitations/" + id, api + "/acme/members", api + "/acme/members/user-ada", api + "/acme/events"} {
		if r := s.do("GET", path, s.admin, nil); r.status != http.StatusOK || r.header.Get("Cache-Control") != "private, no-cache" {
			t.Errorf("GET %s: %d, Cache-Control %q", path, r.status, r.header.Get("Cache-Control"))
		}
	}
}

func TestCORS(t *testing.T) {
	const console = "https://console.example.com"
	s := startStack(t, "", func(c *service.Config) { c.CORSOrigins = []string{console} })
	s.register("acme")
	preflight := func(origin, method, headers string) response {
		return s.do("OPTIONS", api+"/acme", "", nil, "Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers)
	}
	r := preflight(console, "PUT", "authorization,content-type,if-match")
	expect(t, r, http.StatusNoContent)
	if r.header.Get("Access-Control-Allow-Origin") != console || r.header.Get("Access-Control-Allow-Methods") != "PUT" ||
		r.header.Get("Access-Control-Allow-Headers") != "authorization,content-type,if-match" {
		t.Errorf("preflight: %v", r.header)
	}
	get := s.do("GET", api+"/acme", s.admin, nil, "Origin", console)
	if get.header.Get("Access-Control-Allow-Origin") != console || !strings.Contains(get.header.Get("Access-Control-Expose-Headers"), "Etag") {
		t.Errorf("GET from the console: %v", get.header)
	}
	for _, origin := range []string{"https://console.example.com.", "http://console.example.com", "https://CONSOLE.example.com", "null", "https://console.example.com:444"} {
		expect(t, preflight(origin, "PUT", "authorization"), http.StatusForbidden, "root.forbidden")
		if r := s.do("GET", api+"/acme", s.admin, nil, "Origin", origin); r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET from %s: %v", origin, r.header)
		}
	}
	expect(t, preflight(console, "PATCH", ""), http.StatusMethodNotAllowed, "root.method_not_allowed")

	// None by default.
	plain := startStack(t, "")
	expect(t, plain.do("OPTIONS", api+"/acme", "", nil, "Origin", console, "Access-Control-Request-Method", "GET"), http.StatusForbidden, "root.forbidden")
	if r := plain.do("GET", "/api/v1/openapi.json", "", nil, "Origin", console); r.header.Get("Access-Control-Allow-Origin") != "" || slices.Contains(r.header.Values("Vary"), "Origin") {
		t.Errorf("no origin configured: %v", r.header)
	}
}

// TestCompressionOverTheWire takes answers compressed from the server
// cmd/invitesvc runs (service.NewHTTPServer, its listener rewriting the
// errors net/http writes itself) on one kept-alive connection, decompresses
// them, and then sends a request net/http refuses: its answer still has the
// envelope.
func TestCompressionOverTheWire(t *testing.T) {
	s := startStack(t, "")
	s.register("acme")
	conn, err := net.Dial("tcp", s.serveTCP())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, tc := range []struct{ acceptEncoding, coding string }{
		{"deflate, gzip", "gzip"},           // curl --compressed without zstd
		{"deflate, gzip, br, zstd", "zstd"}, // curl 7.88's --compressed
		{"", ""},
	} {
		if _, err := fmt.Fprintf(conn, "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n", tc.acceptEncoding); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != tc.coding || res.Close {
			t.Fatalf("Accept-Encoding %q: %d, Content-Encoding %q, close %v", tc.acceptEncoding, res.StatusCode, res.Header.Get("Content-Encoding"), res.Close)
		}
		var plain []byte
		switch tc.coding {
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err = io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
		case "zstd":
			zr, err := zstd.NewReader(nil)
			if err != nil {
				t.Fatal(err)
			}
			plain, err = zr.DecodeAll(body, nil)
			zr.Close()
			if err != nil {
				t.Fatal(err)
			}
		default:
			plain = body
		}
		if !bytes.Equal(plain, httpapi.OpenAPIDocument()) {
			t.Fatalf("%s: %d bytes decompress to %d that are not the document", tc.coding, len(body), len(plain))
		}
		t.Logf("Accept-Encoding %q: %d bytes for %d", tc.acceptEncoding, len(body), len(plain))
	}
	if _, err := io.WriteString(conn, "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nBad Name: 1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("X-Error-Codes") != "root.malformed_request" || !strings.Contains(string(body), `"errors"`) {
		t.Fatalf("a header net/http refuses: %d %v %q", res.StatusCode, res.Header, body)
	}
}
