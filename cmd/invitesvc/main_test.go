package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

func TestParseRefusesBadSettings(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string // part of the error
	}{
		{[]string{"--http-addr", "8080"}, nil, "--http-addr"},
		{[]string{"--stream-replicas", "0"}, nil, "--stream-replicas"},
		{[]string{"--jwt-secret", "short"}, nil, "--jwt-secret"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--nats-url", "nats://x:4222", "--nats-listen", "127.0.0.1:4333"}, nil, "--nats-listen"},
		{[]string{"--failed-attempts-burst", "0"}, nil, "--failed-attempts"},
		{nil, map[string]string{"INVITESVC_STREAM_REPLICAS": "three"}, "INVITESVC_STREAM_REPLICAS"},
		{[]string{"extra"}, nil, "unexpected argument"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,nope"}, nil, "--trusted-proxies"},
		{[]string{"--otlp-endpoint", "localhost:4318"}, nil, "--otlp-endpoint"},
		{[]string{"--nats-url", "nats://x:4222", "--nats-nkey", "a.nk", "--nats-creds", "a.creds"}, nil, "not both"},
		{nil, map[string]string{"INVITESVC_NATS_NKEY": "service.nk"}, "--nats-url"},
		{[]string{"--accept-unverified", "12,x"}, nil, "accept-unverified"},
		{[]string{"--cors-origins", "https://console.example.com,*"}, nil, "cors-origins"},
		{[]string{"--cors-origins", "https://Console.example.com"}, nil, `write "https://console.example.com"`},
		{[]string{"--cors-origins", "https://console.example.com/"}, nil, "cors-origins"},
		{[]string{"--cors-origins", "https://console.example.com:443"}, nil, `write "https://console.example.com"`},
		{[]string{"--cors-origins", "null"}, nil, "cors-origins"},
		{nil, map[string]string{"INVITESVC_CORS_ORIGINS": "console.example.com"}, "INVITESVC_CORS_ORIGINS"},
		{[]string{"--stream-replicas", "3"}, nil, "--stream-replicas 3 needs a NATS cluster (--nats-url)"},
		{[]string{"--nats-listen", "127.0.0.1:4333"}, map[string]string{"INVITESVC_NATS_URL": "nats://127.0.0.1:4333"},
			"cannot be used with --nats-url (set by INVITESVC_NATS_URL); invitectl reads INVITECTL_NATS_URL"},
		{[]string{"--jwt-secret-file", "/nonexistent/secret"}, nil, "--jwt-secret-file: open /nonexistent/secret"},
		{[]string{"--jwt-secret-file", "x"}, map[string]string{"INVITESVC_JWT_SECRET": strings.Repeat("s", 32)}, "give --jwt-secret (set by INVITESVC_JWT_SECRET) or --jwt-secret-file, not both"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := parse(tt.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestParseTakesEnvironmentAndFlagsWin(t *testing.T) {
	t.Setenv("INVITESVC_HTTP_ADDR", "127.0.0.1:9999")
	t.Setenv("INVITESVC_REDIS_URL", "redis://127.0.0.1:6390/1")
	t.Setenv("INVITESVC_ACCEPT_UNVERIFIED", "12, 40")
	t.Setenv("INVITESVC_CORS_ORIGINS", "https://ignored.example.com")
	s, err := parse([]string{"--http-addr", "127.0.0.1:7777", "--verify-keys", "old.pub,other.pub",
		"--cors-origins", "https://console.example.com, http://localhost:5173"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if s.httpAddr != "127.0.0.1:7777" || s.RedisURL != "redis://127.0.0.1:6390/1" {
		t.Fatalf("settings %+v", s)
	}
	if !slices.Equal(s.CORSOrigins, []string{"https://console.example.com", "http://localhost:5173"}) {
		t.Fatalf("cors-origins %q", s.CORSOrigins)
	}
	if !slices.Equal(s.AcceptUnverified, []uint64{12, 40}) || !slices.Equal(s.VerifyKeys, []string{"old.pub", "other.pub"}) {
		t.Fatalf("accept-unverified %v, verify-keys %v", s.AcceptUnverified, s.VerifyKeys)
	}
	if s.DataDir != "./data" || s.FailureBurst != 20 {
		t.Fatalf("defaults %+v", s)
	}
}

// TestParseJWTSecretFile: the secret is the file's bytes less the newline
// that `openssl rand -hex 32 > file` leaves; a short one is refused.
func TestParseJWTSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("ab", 32)
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := parse([]string{"--jwt-secret-file", file}, &bytes.Buffer{})
	if err != nil || s.JWTSecret != secret {
		t.Fatalf("secret %q, %v; want the file's line", s.JWTSecret, err)
	}
	if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parse([]string{"--jwt-secret-file", file}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "has 5 bytes, want at least 32") {
		t.Fatalf("a short secret file: %v", err)
	}
}

// TestLogsDurationsInMilliseconds: every duration, the service's or a
// library's, is logged as milliseconds under a key that says so.
func TestLogsDurationsInMilliseconds(t *testing.T) {
	var out bytes.Buffer
	logger := newLogger(&out, slog.LevelInfo)
	logger.Info("request", "took", 31*time.Millisecond+200*time.Microsecond)
	logger.Info("Waiting for messages", slog.Any("timeout", 10*time.Second), slog.Group("g", slog.Duration("wait", 1500*time.Microsecond)))
	var lines []map[string]any
	for line := range strings.Lines(out.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["took_ms"] != 31.2 || lines[1]["timeout_ms"] != 10000.0 || lines[1]["g"].(map[string]any)["wait_ms"] != 1.5 {
		t.Fatalf("logged %s", out.String())
	}
	if strings.Contains(out.String(), `"took"`) || strings.Contains(out.String(), `"timeout"`) {
		t.Fatalf("a bare duration key is left: %s", out.String())
	}
}

// TestAddressInUse: a taken --http-addr is said first, before anything
// starts or is announced.
func TestAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	var stderr bytes.Buffer
	err = run([]string{"--http-addr", l.Addr().String(), "--data-dir", dataDir}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--http-addr: listen tcp "+l.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("run on a taken address: %v", err)
	}
	if stderr.String() != "" {
		t.Fatalf("printed before the error:\n%s", stderr.String())
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the data directory was made: %v", err)
	}
}

// TestParseDefaultsAreTheServices: with no flag and no environment, the
// service runs with service.DefaultConfig.
func TestParseDefaultsAreTheServices(t *testing.T) {
	s, err := parse(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Config, service.DefaultConfig()) {
		t.Fatalf("defaults %+v, want service.DefaultConfig() %+v", s.Config, service.DefaultConfig())
	}
	if s.httpAddr != "127.0.0.1:8080" || s.logLevel != "info" {
		t.Fatalf("defaults %+v", s)
	}
}

// TestReadmeNamesEveryFlag reads the README's configuration table: every
// flag has a row, and a flag's default, when it has one, is the row's.
func TestReadmeNamesEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n## Configuration\n")
	table, _, _ = strings.Cut(table, "\n### ")
	var rows [][]string // the flag cell and the default cell of each row
	for _, line := range strings.Split(table, "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 3 && strings.Contains(cells[1], "`--") {
			rows = append(rows, cells[1:3])
		}
	}
	if len(rows) < 20 {
		t.Fatalf("%d rows in the README's configuration table: not the table", len(rows))
	}
	s := settings{Config: service.DefaultConfig()} // the flags' defaults
	flags(&s, io.Discard).VisitAll(func(f *flag.Flag) {
		i := slices.IndexFunc(rows, func(row []string) bool { return strings.Contains(row[0], "`--"+f.Name+"`") })
		switch {
		case i < 0:
			t.Errorf("--%s has no row in the README's configuration table", f.Name)
		case f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && !strings.Contains(rows[i][1], "`"+f.DefValue+"`"):
			t.Errorf("--%s: the README gives the default %q, the flag %q", f.Name, strings.TrimSpace(rows[i][1]), f.DefValue)
		}
	})
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// otlpReceiver is an OTLP/HTTP receiver: it decodes each posted
// ExportTraceServiceRequest with the protocol's own types and keeps the
// names of the spans by the path they were posted to.
type otlpReceiver struct {
	mu    sync.Mutex
	spans map[string][]string
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
		http.Error(w, "not an OTLP/HTTP protobuf export", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				rc.spans[r.URL.Path] = append(rc.spans[r.URL.Path], sp.Name)
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// build builds the command in dir (relative to this one) into the test's
// directory.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// banner's first request and token command, as dev mode prints them.
var (
	bannerRequest = regexp.MustCompile(`curl -X PUT .*\\\n\s+-d '([^']+)' (http://\S+)\n`)
	bannerMint    = regexp.MustCompile(`go run \./cmd/invitectl (token .*) \\\n\s+(.*)\n`)
)

// TestSIGTERMDrainsAndExitsZero runs the real binary in dev mode, as a
// newcomer would: the banner's commands work on the fresh store, its
// traces reach an OTLP/HTTP receiver given as the README writes it (a base
// URL), and SIGTERM stops it.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	testkit.NeedsServers(t)
	bin, ctl := build(t, "."), build(t, "../invitectl")
	rc := &otlpReceiver{spans: map[string][]string{}}
	receiver := httptest.NewServer(rc)
	defer receiver.Close()
	addr, natsAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	var stderr testkit.Buffer
	cmd := exec.Command(bin, "--http-addr", addr, "--data-dir", dataDir, "--nats-listen", natsAddr, "--otlp-endpoint", receiver.URL)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		// Ready, and its output read: it is copied from a pipe meanwhile.
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK && strings.Contains(stderr.String(), `"msg":"invitesvc listening"`) {
				break
			}
		}
		if ctx.Err() != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("not ready: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	banner := stderr.String()
	token := regexp.MustCompile(`export ADMIN_TOKEN=(\S+)`).FindStringSubmatch(banner)
	request, mint := bannerRequest.FindStringSubmatch(banner), bannerMint.FindStringSubmatch(banner)
	if !strings.Contains(banner, "DEV MODE") || token == nil || request == nil || mint == nil {
		t.Fatalf("dev mode not announced:\n%s", banner)
	}
	secretFile := filepath.Join(dataDir, "dev-jwt-secret")
	if !strings.Contains(banner, "kept in "+secretFile+"\n") || !strings.Contains(mint[1], "--secret-file "+secretFile) {
		t.Fatalf("the banner does not name %s:\n%s", secretFile, banner)
	}
	// The first request works on a fresh store, and again.
	for _, want := range []int{http.StatusCreated, http.StatusOK} {
		if got := testkit.Call(t, "PUT", request[2], token[1], request[1]); got != want {
			t.Fatalf("the banner's first request: %d, want %d", got, want)
		}
	}
	// The token command mints from the file the service reads.
	minted, err := exec.Command(ctl, strings.Fields(mint[1]+" "+mint[2])...).Output()
	if err != nil {
		t.Fatalf("the banner's token command: %v", err)
	}
	if got := testkit.Call(t, "POST", "http://"+addr+"/api/v1/organizations/acme/invitations", strings.TrimSpace(string(minted)), `{"emails": ["ada@example.com"]}`); got != http.StatusCreated {
		t.Fatalf("an invite with the banner's minted token: %d", got)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "jetstream")); err != nil {
		t.Fatalf("the stream is not kept under --data-dir: %v", err)
	}
	// A second process on the same data directory refuses to start.
	second := exec.CommandContext(ctx, bin, "--http-addr", freeAddr(t), "--data-dir", dataDir)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by process "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("a second invitesvc on the data directory: %v\n%s", err, out)
	}
	// --nats-listen exposes the embedded server and its stream to tools,
	// with the credentials it announced, and to nobody else.
	auditor := filepath.Join(dataDir, "nats", "auditor.nk")
	if !strings.Contains(stderr.String(), "--nats-nkey "+auditor) {
		t.Fatalf("the NATS users are not announced:\n%s", stderr.String())
	}
	if _, err := nats.Connect("nats://" + natsAddr); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connection to the embedded NATS: %v, want an authorization violation", err)
	}
	creds, err := nats.NkeyOptionFromSeed(auditor)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+natsAddr, creds)
	if err != nil {
		t.Fatalf("embedded NATS not exposed: %v", err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.Stream(ctx, "INVITATIONS"); err != nil {
		t.Fatalf("stream not found through --nats-listen: %v", err)
	}
	nc.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatalf("still running after SIGTERM")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no orderly stop logged:\n%s", stderr.String())
	}
	logs := stderr.String()
	if !regexp.MustCompile(`"msg":"read models caught up","events":0,"took_ms":[0-9.]+}`).MatchString(logs) ||
		!regexp.MustCompile(`"status":201,"took_ms":[0-9.]+}`).MatchString(logs) || strings.Contains(logs, `"took":`) {
		t.Fatalf("durations are not logged as took_ms:\n%s", logs)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.spans) != 1 || !slices.Contains(rc.spans["/v1/traces"], "PUT /api/v1/organizations/{organization_id}") {
		t.Fatalf("spans received, by path: %v; want the requests' at /v1/traces", rc.spans)
	}
}
