package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// The handler tests run the whole router (New) over fakes of its ports and
// a real HS256 verifier: no network, no store.

var (
	testSecret = []byte("handler-tests-secret-of-32-bytes")
	testNow    = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
)

const (
	testInvitationID = "0193a1f4-7c2e-7d3a-9b1e-000000000001"
	testToken        = "dGhpcyBpcyBhIDQzIGNoYXJhY3RlciB0b2tlbiBvayB"
	orgPath          = "/api/v1/organizations/acme"
	invitationPath   = orgPath + "/invitations/" + testInvitationID
	tokenPath        = "/api/v1/organizations/invitations/" + testToken
)

// fakeCommands records the last command it ran and answers with the
// results and error it holds.
type fakeCommands struct {
	got   any
	calls int
	err   error
	panic any // when set, every command panics with it

	org     domain.Organization
	created bool
	create  commands.CreateInvitationsResult
	accept  commands.AcceptInvitationResult
	resend  commands.ResendInvitationResult
	erase   commands.EraseEmailResult
}

func (f *fakeCommands) run(cmd any) error {
	f.got, f.calls = cmd, f.calls+1
	if f.panic != nil {
		panic(f.panic)
	}
	return f.err
}

func (f *fakeCommands) RegisterOrganization(_ context.Context, cmd commands.RegisterOrganization) (domain.Organization, bool, error) {
	err := f.run(cmd)
	return f.org, f.created, err
}

func (f *fakeCommands) CreateInvitations(_ context.Context, cmd commands.CreateInvitations) (commands.CreateInvitationsResult, error) {
	err := f.run(cmd)
	return f.create, err
}

func (f *fakeCommands) AcceptInvitation(_ context.Context, cmd commands.AcceptInvitation) (commands.AcceptInvitationResult, error) {
	err := f.run(cmd)
	return f.accept, err
}

func (f *fakeCommands) CancelInvitation(_ context.Context, cmd commands.CancelInvitation) error {
	return f.run(cmd)
}

func (f *fakeCommands) ResendInvitation(_ context.Context, cmd commands.ResendInvitation) (commands.ResendInvitationResult, error) {
	err := f.run(cmd)
	return f.resend, err
}

func (f *fakeCommands) RemoveMember(_ context.Context, cmd commands.RemoveMember) error {
	return f.run(cmd)
}

func (f *fakeCommands) EraseEmail(_ context.Context, cmd commands.EraseEmail) (commands.EraseEmailResult, error) {
	err := f.run(cmd)
	return f.erase, err
}

// fakeQueries answers from what it holds and notes what it was asked.
type fakeQueries struct {
	orgs        map[string]projections.Organization
	invitation  *projections.Invitation // found when set
	match       projections.TokenMatch
	invitations projections.Page[projections.Invitation]
	members     projections.Page[projections.Member]
	member      *projections.Member // found when set
	err         error               // every query's

	asked []string // the queries made, by name
	// the arguments of the last list and look-up
	invitationID string
	tokenSHA256  string
	status       projections.StatusFilter
	page         projections.PageRequest
}

func (f *fakeQueries) Organization(_ context.Context, id string) (projections.Organization, bool, error) {
	f.asked = append(f.asked, "Organization")
	o, found := f.orgs[id]
	return o, found, f.err
}

func (f *fakeQueries) Invitation(_ context.Context, _, id string) (projections.Invitation, bool, error) {
	f.asked, f.invitationID = append(f.asked, "Invitation"), id
	if f.invitation == nil {
		return projections.Invitation{}, false, f.err
	}
	return *f.invitation, true, f.err
}

func (f *fakeQueries) InvitationByToken(_ context.Context, tokenSHA256 string) (projections.TokenMatch, error) {
	f.asked, f.tokenSHA256 = append(f.asked, "InvitationByToken"), tokenSHA256
	return f.match, f.err
}

func (f *fakeQueries) Invitations(_ context.Context, _ string, status projections.StatusFilter, req projections.PageRequest) (projections.Page[projections.Invitation], error) {
	f.asked, f.status, f.page = append(f.asked, "Invitations"), status, req
	return f.invitations, f.err
}

func (f *fakeQueries) Member(_ context.Context, _, _ string) (projections.Member, bool, error) {
	f.asked = append(f.asked, "Member")
	if f.member == nil {
		return projections.Member{}, false, f.err
	}
	return *f.member, true, f.err
}

func (f *fakeQueries) Members(_ context.Context, _ string, req projections.PageRequest) (projections.Page[projections.Member], error) {
	f.asked, f.page = append(f.asked, "Members"), req
	return f.members, f.err
}

// fakeEvents holds one invitation's stream and one organization's feed.
type fakeEvents struct {
	stream []domain.Recorded
	feed   []domain.Recorded
	loaded domain.StreamID
	err    error
}

func (f *fakeEvents) Load(_ context.Context, id domain.StreamID) ([]domain.Recorded, domain.Position, error) {
	f.loaded = id
	return f.stream, domain.Position{}, f.err
}

func (f *fakeEvents) OrganizationEvents(context.Context, string) ([]domain.Recorded, error) {
	return slices.Clone(f.feed), f.err
}

type harness struct {
	commands *fakeCommands
	queries  *fakeQueries
	events   *fakeEvents
	webhooks *fakeWebhooks
	logs     *strings.Builder
	metrics  *prometheus.Registry
	handler  http.Handler
}

// newHarness serves a registered organization acme that holds one pending
// invitation. configure may change the dependencies before the handler is built.
func newHarness(t *testing.T, configure ...func(*Deps)) *harness {
	t.Helper()
	verifier, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	inv := testInvitation()
	h := &harness{
		commands: &fakeCommands{},
		queries: &fakeQueries{
			orgs:       map[string]projections.Organization{"acme": {ID: "acme", Name: "Acme", CreatedAt: testNow.Add(-time.Hour)}},
			invitation: &projections.Invitation{Invitation: inv, Position: 7},
		},
		events:   &fakeEvents{stream: []domain.Recorded{testCreated(1, testNow)}},
		webhooks: newFakeWebhooks(),
		logs:     &strings.Builder{},
		metrics:  prometheus.NewRegistry(),
	}
	d := Deps{
		Commands: h.commands, Queries: h.queries, Events: h.events, Verifier: verifier, Webhooks: h.webhooks,
		Limiter: NewFailureLimiter(600, 1000), Invites: NewInviteLimiter(1000),
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)), Metrics: h.metrics,
		Now: func() time.Time { return testNow },
	}
	for _, c := range configure {
		c(&d)
	}
	h.handler = New(d)
	return h
}

func testInvitation() domain.Invitation {
	return domain.Invitation{ID: testInvitationID, OrganizationID: "acme", Email: "ada@example.com", Role: domain.RoleMember,
		TokenSHA256: domain.SHA256(testToken), CreatedAt: testNow.Add(-time.Minute), CreatedBy: "user-1",
		ExpiresAt: testNow.Add(time.Hour), Version: 1}
}

func testCreated(seq uint64, at time.Time) domain.Recorded {
	return domain.Recorded{Sequence: seq, Event: domain.NewEvent("event-1", at, domain.InvitationCreated{
		OrganizationID: "acme", InvitationID: testInvitationID, Email: "ada@example.com", Role: domain.RoleMember, Actor: "user-1"})}
}

// grant is the org_permissions claim holding perms in org.
func grant(org string, perms ...string) map[string][]string {
	return map[string][]string{org: perms}
}

// mint signs claims with the test secret, for an hour; the subject is
// user-1 unless claims name one.
func mint(t *testing.T, c auth.Claims) string {
	t.Helper()
	return mintWith(t, testSecret, c)
}

func mintWith(t *testing.T, secret []byte, c auth.Claims) string {
	t.Helper()
	if c.Subject == "" {
		c.Subject = "user-1"
	}
	token, err := auth.Mint(secret, c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// bearer is a token of user-1 holding perms in acme.
func bearer(t *testing.T, perms ...string) string {
	return mint(t, auth.Claims{OrgPermissions: grant("acme", perms...)})
}

// expired is a token of user-1 that expired beyond the leeway.
func expired(t *testing.T) string {
	t.Helper()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "user-1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)),
	}, OrgPermissions: grant("acme", auth.PermOrgAdmin)}).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// serve answers one request; headers are name, value pairs added to it.
func (h *harness) serve(method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	var r io.Reader = http.NoBody
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Content-Type" {
			req.Header.Del(headers[i])
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

type envelope struct {
	Errors []apiError `json:"errors"`
}

// wantProblem checks an error answer: its status, the envelope's first
// entry and the X-Error-Codes header.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string, fields ...string) envelope {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != status || len(env.Errors) == 0 {
		t.Fatalf("answered %d %s; want %d %s", rec.Code, rec.Body, status, code)
	}
	if e := env.Errors[0]; e.Code != code || !slices.Equal(e.Fields, fields) || e.Message == "" {
		t.Errorf("error %+v; want code %s, fields %q and a message", e, code, fields)
	}
	codes := make([]string, len(env.Errors))
	for i, e := range env.Errors {
		codes[i] = e.Code
	}
	if got := rec.Header().Get("X-Error-Codes"); got != strings.Join(codes, ",") {
		t.Errorf("X-Error-Codes %q; want %q", got, strings.Join(codes, ","))
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	return env
}

// decoded reads a success answer of status into a value of type T.
func decoded[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if rec.Code != status {
		t.Fatalf("answered %d %s; want %d", rec.Code, rec.Body, status)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return v
}
