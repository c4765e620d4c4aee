package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

// walkThrough is the README section this test follows.
const walkThrough = "Walk-through with curl"

// TestReadmeWalkThrough follows the README's walk-through as a newcomer
// would: it builds invitesvc, starts it with its defaults (a fresh data
// directory, a free port), takes the export line the service prints, sets
// the variables the README asks for, and runs the section's commands, as
// they are written there, with bash under set -euo pipefail, twice against
// the same service. A proxy in front of the service records every answer,
// which the test checks.
func TestReadmeWalkThrough(t *testing.T) {
	testkit.NeedsServers(t)
	for _, tool := range []string{"bash", "curl", "grep", "sed", "cut", "date", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s: %v", tool, err)
		}
	}
	steps := readWalkThrough(t)
	svc := startDevService(t)
	rec := startRecorder(t, svc.addr)
	script := steps.script(rec.addr, svc.dataDir, svc.exportLine)

	var orgs []string
	for run := 1; run <= 2; run++ {
		if run == 2 {
			// ORG=acme-$(date +%s): a second run starts in a later second.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		}
		stdout := runScript(t, run, script, rec)
		orgs = append(orgs, checkWalkThrough(t, run, rec.take(), stdout))
	}
	if orgs[0] == orgs[1] {
		t.Errorf("both runs used the organization %s", orgs[0])
	}
}

// walkThroughSteps are the section's blocks: the service's start, the
// variables to set, and the commands.
type walkThroughSteps struct {
	vars     map[string]string // name: the README's value
	commands string
}

var assignment = regexp.MustCompile(`^([A-Z_]+)=(\S+)$`)

func readWalkThrough(t *testing.T) walkThroughSteps {
	t.Helper()
	blocks := parseMarkdown(t, filepath.Join(repoRoot, "README.md")).codeBlocks(walkThrough, "sh")
	if len(blocks) < 3 {
		t.Fatalf("the README's %q has %d sh blocks; this test wants the start, the variables and the commands", walkThrough, len(blocks))
	}
	if start := strings.TrimSpace(blocks[0]); start != "go run ./cmd/invitesvc" {
		t.Fatalf("the walk-through starts the service with %q; this test starts it with its defaults", start)
	}
	steps := walkThroughSteps{vars: map[string]string{}, commands: strings.Join(blocks[2:], "\n")}
	for _, line := range strings.Split(strings.TrimSpace(blocks[1]), "\n") {
		m := assignment.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			t.Fatalf("the walk-through's second block should only set variables, but has %q", line)
		}
		steps.vars[m[1]] = m[2]
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range steps.vars {
			if !yield(name) {
				return
			}
		}
	})
	if !slices.Equal(names, []string{"B", "JWT_SECRET_FILE"}) {
		t.Fatalf("the walk-through sets %q; this test knows how to set B (the API's base URL) and JWT_SECRET_FILE (dev mode's secret)", names)
	}
	if b, err := url.Parse(steps.vars["B"]); err != nil || b.Scheme != "http" || b.Path != "/api/v1" {
		t.Fatalf("B=%s is not the service's http://ADDRESS/api/v1", steps.vars["B"])
	}
	return steps
}

// script is the walk-through as a user in the second terminal runs it:
// the pasted export line, the variables given this service's values, then
// the README's commands, unchanged.
func (s walkThroughSteps) script(addr, dataDir, exportLine string) string {
	return strings.Join([]string{
		"set -euo pipefail",
		exportLine,
		fmt.Sprintf("B='http://%s/api/v1'", addr),
		fmt.Sprintf("JWT_SECRET_FILE='%s'", filepath.Join(dataDir, "dev-jwt-secret")),
		s.commands,
	}, "\n")
}

// devService is a built invitesvc running in dev mode.
type devService struct {
	addr, dataDir string
	exportLine    string // "export ADMIN_TOKEN=...", as printed
}

var exportLine = regexp.MustCompile(`(?m)^\s*(export ADMIN_TOKEN=\S+)\s*$`)

func startDevService(t *testing.T) devService {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "invitesvc")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/invitesvc").CombinedOutput(); err != nil {
		t.Fatalf("build invitesvc: %v\n%s", err, out)
	}
	svc := devService{addr: testkit.FreeAddr(t), dataDir: t.TempDir()}
	var output testkit.Buffer
	cmd := exec.Command(bin, "--http-addr", svc.addr, "--data-dir", svc.dataDir)
	cmd.Env = newcomersEnv()
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("invitesvc's output:\n%s", output.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if res, err := http.Get("http://" + svc.addr + "/readyz"); err == nil {
			res.Body.Close()
			if m := exportLine.FindStringSubmatch(output.String()); res.StatusCode == http.StatusOK && m != nil {
				svc.exportLine = m[1]
				return svc
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("invitesvc exited (%v):\n%s", err, output.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("invitesvc not ready, or no export ADMIN_TOKEN line, after 90 s:\n%s", output.String())
		}
	}
}

// newcomersEnv is this process's environment without the service's and
// invitectl's settings, which a newcomer has not set.
func newcomersEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "INVITESVC_") || strings.HasPrefix(kv, "INVITECTL_")
	})
}

func runScript(t *testing.T, run int, script string, rec *recorder) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = repoRoot // where the README says to run it: go run ./cmd/invitectl
	cmd.Env = newcomersEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run %d of the walk-through failed: %v\nstdout:\n%s\nstderr:\n%s\nanswers:\n%s", run, err, stdout.String(), stderr.String(), rec.String())
	}
	return stdout.String()
}

// exchange is one request the walk-through made and its answer.
type exchange struct {
	method, path string
	query        url.Values
	status       int
	body         []byte
}

func (e exchange) String() string {
	return fmt.Sprintf("%s %s?%s: %d %s", e.method, e.path, e.query.Encode(), e.status, bytes.TrimSpace(e.body))
}

// recorder is a reverse proxy to the service that keeps every exchange.
type recorder struct {
	addr string
	mu   sync.Mutex
	seen []exchange
}

func startRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	proxy.ModifyResponse = func(res *http.Response) error {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		req := res.Request
		rec.mu.Lock()
		rec.seen = append(rec.seen, exchange{req.Method, req.URL.EscapedPath(), req.URL.Query(), res.StatusCode, body})
		rec.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	rec.addr = srv.Listener.Addr().String()
	return rec
}

// take returns the exchanges seen since the last take.
func (r *recorder) take() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := r.seen
	r.seen = nil
	return seen
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.seen {
		fmt.Fprintln(&b, e)
	}
	return b.String()
}

// answers walks through the exchanges of one run in order.
type answers struct {
	t    *testing.T
	run  int
	seen []exchange
	next int
}

// expect takes the next exchange, which must be method on path (any path
// when empty) answered with status.
func (a *answers) expect(method, path string, status int) exchange {
	a.t.Helper()
	if a.next == len(a.seen) {
		a.t.Fatalf("run %d: the walk-through made %d requests; the next should be %s %s", a.run, len(a.seen), method, path)
	}
	e := a.seen[a.next]
	a.next++
	if e.method != method || (path != "" && e.path != path) || e.status != status {
		a.t.Fatalf("run %d, request %d: %s; want %s %s answered %d", a.run, a.next, e, method, path, status)
	}
	return e
}

func decode[T any](t *testing.T, e exchange) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.body, &v); err != nil {
		t.Fatalf("%s: %v", e, err)
	}
	return v
}

type invitation struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
	Status string `json:"status"`
	Token  string `json:"token"`
}

type event struct {
	Type string `json:"type"`
	Data struct {
		InvitationID string `json:"invitation_id"`
		UserID       string `json:"user_id"`
	} `json:"data"`
}

// checkWalkThrough checks each answer of one run, and that the user saw
// them all; it returns the run's organization.
func checkWalkThrough(t *testing.T, run int, seen []exchange, stdout string) string {
	t.Helper()
	a := &answers{t: t, run: run, seen: seen}

	registered := a.expect("PUT", "", http.StatusCreated)
	org, _ := strings.CutPrefix(registered.path, "/api/v1/organizations/")
	if o := decode[struct{ ID, Name string }](t, registered); !domain.ValidOrganizationID(org) || o.ID != org || o.Name != "Acme Corp" {
		t.Fatalf("run %d: %s", run, registered)
	}
	base := "/api/v1/organizations/" + org

	created := decode[struct{ Invitations []invitation }](t, a.expect("POST", base+"/invitations", http.StatusCreated)).Invitations
	if len(created) != 2 || created[0].Email != "ada@example.com" || created[1].Email != "bob@example.com" {
		t.Fatalf("run %d: created %+v", run, created)
	}
	for _, inv := range created {
		if inv.Status != "pending" || inv.Role != "member" || len(inv.Token) != 43 || !domain.ValidInvitationID(inv.ID) {
			t.Fatalf("run %d: created %+v", run, inv)
		}
	}
	ada, bob := created[0], created[1]

	byToken := "/api/v1/organizations/invitations/" + ada.Token
	if got := decode[invitation](t, a.expect("GET", byToken, http.StatusOK)); got != ada {
		t.Errorf("run %d: the look-up gave %+v, want Ada's invitation %+v", run, got, ada)
	}
	accepted := decode[struct {
		Organization struct{ ID string }
		Membership   struct {
			UserID       string `json:"user_id"`
			Email        string `json:"email"`
			InvitationID string `json:"invitation_id"`
		}
	}](t, a.expect("POST", byToken+"/_accept", http.StatusOK))
	if m := accepted.Membership; accepted.Organization.ID != org || m.UserID != "user-42" || m.Email != ada.Email || m.InvitationID != ada.ID {
		t.Errorf("run %d: accepted %+v", run, accepted)
	}

	list := a.expect("GET", base+"/invitations", http.StatusOK)
	if pending := decode[struct{ Invitations []invitation }](t, list).Invitations; list.query.Get("status") != "pending" ||
		len(pending) != 1 || pending[0].ID != bob.ID || pending[0].Status != "pending" {
		t.Errorf("run %d: pending invitations %s; want Bob's alone", run, list)
	}
	members := decode[struct {
		Members []struct {
			UserID string `json:"user_id"`
			Email  string `json:"email"`
		}
	}](t, a.expect("GET", base+"/members", http.StatusOK)).Members
	if len(members) != 1 || members[0].UserID != "user-42" || members[0].Email != ada.Email {
		t.Errorf("run %d: members %+v; want user-42 alone", run, members)
	}

	a.expect("DELETE", base+"/invitations/"+bob.ID, http.StatusNoContent)
	history := decode[struct{ Events []event }](t, a.expect("GET", base+"/invitations/"+bob.ID+"/events", http.StatusOK)).Events
	if len(history) != 2 || history[0].Type != domain.TypeInvitationCreated || history[1].Type != domain.TypeInvitationCancelled {
		t.Errorf("run %d: Bob's history %+v; want created, cancelled", run, history)
	}

	feed := a.expect("GET", base+"/events", http.StatusOK)
	if events := decode[struct{ Events []event }](t, feed).Events; feed.query.Get("type") != domain.TypeInvitationAccepted ||
		len(events) != 1 || events[0].Data.InvitationID != ada.ID || events[0].Data.UserID != "user-42" {
		t.Errorf("run %d: the audit feed %s; want Ada's acceptance alone", run, feed)
	}
	if a.next != len(seen) {
		t.Errorf("run %d: requests this test does not know, from %d on:\n%v", run, a.next+1, seen[a.next:])
	}

	// Each answer is printed for the user to see.
	for _, e := range seen {
		if body := string(bytes.TrimSpace(e.body)); !strings.Contains(stdout, body) {
			t.Errorf("run %d: the answer to %s %s is not shown to the user:\n%s", run, e.method, e.path, stdout)
		}
	}
	if !strings.Contains(stdout, "\n204\n") {
		t.Errorf("run %d: the cancel's 204 is not shown:\n%s", run, stdout)
	}
	return org
}
