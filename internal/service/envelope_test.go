package service_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/service"
)

// TestEveryErrorHasTheEnvelope sends, over TCP to the server cmd/invitesvc
// runs (service.NewHTTPServer), requests that net/http answers before any
// handler runs, paths mux used to redirect, and the other errors the HTTP
// layer raises itself. Each answer must have the error envelope,
// X-Error-Codes and X-Request-Id, and be the response of the OpenAPI
// document named in its row. Raw writes: Go's client refuses to send most
// of these.
func TestEveryErrorHasTheEnvelope(t *testing.T) {
	s := startStack(t, "")
	s.register("acme")
	addr := s.serveTCP()
	auth := "Authorization: Bearer " + s.admin + "\r\n"
	big := strings.Repeat("a", http.DefaultMaxHeaderBytes+8<<10) // net/http allows 4 KiB over the limit

	for _, tc := range []struct {
		name, request string
		status        int
		code          string
		response      string // the document's component; "" for a routed request, checked as such
	}{
		{"dot-dot segment", "GET /api/v1/organizations/acme/../acme HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 404, "root.not_found", "RouteNotFound"},
		{"dot-dot to a route", "GET /api/v1/organizations/../organizations/acme HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 404, "root.not_found", "RouteNotFound"},
		{"dot segment", "GET /api/v1/./organizations/acme HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 404, "root.not_found", "RouteNotFound"},
		{"empty segment", "GET /api/v1//organizations/acme HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 404, "root.not_found", "RouteNotFound"},
		{"bad percent-encoding in the path", "GET /api/v1/organizations/%zz HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "root.malformed_request", "UnreadableRequest"},
		{"truncated percent-encoding in a token", "GET /api/v1/organizations/invitations/abc%E0%A HTTP/1.1\r\nHost: x\r\n\r\n", 400, "root.malformed_request", "UnreadableRequest"},
		{"no request target", "GET HTTP/1.1\r\nHost: x\r\n\r\n", 400, "root.malformed_request", "UnreadableRequest"},
		{"no Host", "GET /api/v1/openapi.json HTTP/1.1\r\n\r\n", 400, "root.malformed_request", "UnreadableRequest"},
		{"two Hosts", "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "root.malformed_request", "UnreadableRequest"},
		{"bad header name", "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, "root.malformed_request", "UnreadableRequest"},
		{"bad Content-Length", "PUT /api/v1/organizations/acme HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n", 400, "root.malformed_request", "UnreadableRequest"},
		{"oversized headers", "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431, "root.request_headers_too_large", "RequestHeadersTooLarge"},
		{"unknown transfer coding", "PUT /api/v1/organizations/acme HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "root.malformed_request", "UnreadableRequest"},
		{"HTTP/2.0 as text", "GET /api/v1/openapi.json HTTP/2.0\r\nHost: x\r\n\r\n", 505, "root.malformed_request", "UnreadableRequest"},
		{"unmet Expect", "PUT /api/v1/organizations/acme HTTP/1.1\r\nHost: x\r\nExpect: the-moon\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" + auth + "\r\n{}", 417, "root.malformed_request", "UnreadableRequest"},
		{"method", "PATCH /api/v1/organizations/acme HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 405, "root.method_not_allowed", ""},
		{"body over 1 MiB", "PUT /api/v1/organizations/acme HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048600\r\n" + auth + "\r\n{\"name\":\"" + strings.Repeat("a", 1048600-11) + "\"}", 413, "root.request_too_large", ""},
		{"media type", "PUT /api/v1/organizations/acme HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n" + auth + "\r\n{\"name\":\"x\"}", 415, "root.unsupported_media_type", ""},
		{"no route", "GET /api/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404, "root.not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := exchangeRaw(t, addr, tc.request)
			var env struct {
				Errors []struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &env); err != nil || res.StatusCode != tc.status || len(env.Errors) != 1 || env.Errors[0].Code != tc.code || env.Errors[0].Message == "" {
				t.Fatalf("answered %d %v %.300q; want %d %s in the envelope", res.StatusCode, res.Header, body, tc.status, tc.code)
			}
			if got := res.Header.Get("X-Error-Codes"); got != tc.code {
				t.Errorf("X-Error-Codes %q", got)
			}
			if id := res.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`).MatchString(id) {
				t.Errorf("X-Request-Id %q", id)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if err := documented(tc.request, tc.response, tc.status, res, body); err != nil {
				t.Errorf("breaks the OpenAPI document: %v", err)
			}
		})
	}

	// The answers of the handler pass the listener unchanged, on one
	// kept-alive connection.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for range 3 {
		if _, err := io.WriteString(conn, "GET /api/v1/organizations/acme HTTP/1.1\r\nHost: x\r\n"+auth+"\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || res.Close || !strings.Contains(string(body), `"name":"acme Corp"`) {
			t.Fatalf("answered %d (close %v) %s", res.StatusCode, res.Close, body)
		}
	}
}

// serveTCP serves the stack as cmd/invitesvc does (service.NewHTTPServer,
// with its listener) on a free port, until the test ends: its address.
func (s *stack) serveTCP() string {
	s.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	srv := service.NewHTTPServer(s.svc.Handler)
	go func() { _ = srv.Serve(l) }()
	s.t.Cleanup(func() { _ = srv.Shutdown(s.t.Context()) })
	return l.Addr().String()
}

// exchangeRaw writes request on a new connection and reads one answer.
// The request is written while the answer is read, as the server may
// answer (and close) before reading all of it.
func exchangeRaw(t *testing.T, addr, request string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(conn, request) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return res, body
}

// documented checks an answer against the OpenAPI document: against the
// component response named, for requests no operation matches, else as
// the answer to the operation the request line names.
func documented(request, response string, status int, res *http.Response, body []byte) error {
	line, headers, _ := strings.Cut(request, "\r\n")
	method, target, _ := strings.Cut(line, " ")
	target, _, _ = strings.Cut(target, " ")
	if response != "" {
		c, err := theContract()
		if err != nil {
			return err
		}
		return c.validateAs(httptest.NewRequest(http.MethodGet, "/", nil), response, status, res.StatusCode, res.Header, body)
	}
	header := http.Header{}
	head, sent, _ := strings.Cut(headers, "\r\n\r\n")
	for _, h := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(h, ": "); ok {
			header.Add(k, v)
		}
	}
	return validateExchange(method, "http://x"+target, header, []byte(sent), res.StatusCode, res.Header, body)
}
