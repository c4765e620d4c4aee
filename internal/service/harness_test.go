package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test")

// stack is the whole service over real JetStream and a real read store.
type stack struct {
	t       *testing.T
	cfg     service.Config
	svc     *service.Service
	http    *httptest.Server
	offset  atomic.Int64 // the service clock runs this far ahead of real time
	admin   string       // token with every permission in acme
	stopped bool
}

// stores runs fn once with the memory read store and once with Redis.
func stores(t *testing.T, fn func(t *testing.T, newStack func(opts ...func(*service.Config)) *stack)) {
	testkit.NeedsServers(t)
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			redisURL := ""
			if store == "redis" {
				redisURL = testkit.Redis(t)
			}
			fn(t, func(opts ...func(*service.Config)) *stack {
				return startStack(t, redisURL, opts...)
			})
		})
	}
}

func startStack(t *testing.T, redisURL string, opts ...func(*service.Config)) *stack {
	t.Helper()
	testkit.NeedsServers(t)
	s := &stack{t: t}
	s.cfg = service.Config{
		DataDir: t.TempDir(), RedisURL: redisURL, RedisPrefix: "t" + strings.ReplaceAll(t.Name(), "/", ".") + ":",
		JWTSecret: string(secret), FailuresPerMinute: 6000, FailureBurst: 10000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    func() time.Time { return time.Now().Add(time.Duration(s.offset.Load())) },
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	s.start()
	s.admin = s.token("admin-1", "admin@example.com", map[string][]string{"acme": {auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin}})
	t.Cleanup(s.stop)
	return s
}

func (s *stack) start() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.svc = svc
	s.http = httptest.NewServer(svc.Handler)
	s.stopped = false
}

func (s *stack) stop() {
	if !s.stopped {
		s.http.Close()
		s.svc.Close()
		s.stopped = true
	}
}

// restart stops the service and starts it again on the same data.
func (s *stack) restart() {
	s.stop()
	s.start()
}

func (s *stack) advance(d time.Duration) { s.offset.Add(int64(d)) }

func (s *stack) token(sub, email string, perms map[string][]string) string {
	s.t.Helper()
	tok, err := auth.Mint(secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, Email: email, OrgPermissions: perms}, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// response is an answer, its body decoded.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// errorCodes lists the codes of an error envelope.
func (r response) errorCodes() []string {
	var codes []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		codes = append(codes, e.(map[string]any)["code"].(string))
	}
	return codes
}

func (r response) errorFields() []string {
	var fields []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		fs, _ := e.(map[string]any)["fields"].([]any)
		for _, f := range fs {
			fields = append(fields, f.(string))
		}
	}
	return fields
}

func (r response) str(key string) string { v, _ := r.body[key].(string); return v }

func (r response) list(key string) []map[string]any {
	items, _ := r.body[key].([]any)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = it.(map[string]any)
	}
	return out
}

// doQuiet is do for a replica that may be stopping: a failed connection is
// an answer of status 0, not a test failure.
func (s *stack) doQuiet(method, path, token string, body any) response {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.http.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}
	}
	defer res.Body.Close()
	r := response{status: res.StatusCode}
	_ = json.NewDecoder(res.Body).Decode(&r.body)
	return r
}

// do sends a request; body may be a string (sent as is) or a value (JSON).
func (s *stack) do(method, path, token string, body any, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	var sent []byte
	switch b := body.(type) {
	case nil:
	case string:
		sent = []byte(b)
		rd = strings.NewReader(b)
	default:
		sent, _ = json.Marshal(b)
		rd = bytes.NewReader(sent)
	}
	req, err := http.NewRequest(method, s.http.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	s.checkContract(req, sent, res, raw) // every answer must be one the OpenAPI document describes
	r := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			s.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	if res.StatusCode >= 400 && method != http.MethodHead {
		if got := res.Header.Get("X-Error-Codes"); got == "" || got != strings.Join(r.errorCodes(), ",") {
			s.t.Errorf("%s %s: X-Error-Codes %q does not list the envelope's codes %v", method, path, got, r.errorCodes())
		}
	}
	if res.Header.Get("X-Request-Id") == "" {
		s.t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	return r
}

// expect fails unless the response has the status (and, for errors, the code).
func expect(t *testing.T, r response, status int, code ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if len(code) > 0 && (len(r.errorCodes()) == 0 || r.errorCodes()[0] != code[0]) {
		t.Fatalf("codes %v, want %s: %s", r.errorCodes(), code[0], r.raw)
	}
}

const api = "/api/v1/organizations"

// register makes organization org with the admin token.
func (s *stack) register(org string) {
	s.t.Helper()
	tok := s.token("admin-"+org, "", map[string][]string{org: {auth.PermOrgAdmin}})
	expect(s.t, s.do("PUT", api+"/"+org, tok, map[string]any{"name": org + " Corp"}), http.StatusCreated)
}

// invite creates invitations in acme and returns them.
func (s *stack) invite(emails ...string) []map[string]any {
	s.t.Helper()
	r := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": emails})
	expect(s.t, r, http.StatusCreated)
	return r.list("invitations")
}

func (s *stack) invitee(sub, email string) string { return s.token(sub, email, nil) }
