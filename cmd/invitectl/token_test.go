package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// secretFile writes a secret as `openssl rand -hex 32 > file` does.
func secretFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt-secret")
	if err := os.WriteFile(path, append(auth.NewSecretText(), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mint(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(append([]string{"token"}, args...), &out, &errOut); err != nil {
		t.Fatalf("invitectl token %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// TestTokenAgainstService: tokens minted from the service's secret file
// are accepted with exactly the permissions they name; one minted from
// another secret is 401.
func TestTokenAgainstService(t *testing.T) {
	testkit.NeedsServers(t)
	file := secretFile(t)
	secret, err := auth.ReadSecretFile(file) // as invitesvc --jwt-secret-file reads it
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.Start(t.Context(), service.Config{DataDir: t.TempDir(), JWTSecret: string(secret), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	srv := httptest.NewServer(svc.Handler)
	t.Cleanup(srv.Close)
	call := func(method, path, token, body string) int {
		t.Helper()
		return testkit.Call(t, method, srv.URL+"/api/v1/organizations/"+path, token, body)
	}
	invite := `{"emails": ["ada@example.com"]}`

	admin := mint(t, "--secret-file", file, "--sub", "ops-1", "--perm", "acme=org.admin")
	if got := call("PUT", "acme", admin, `{"name": "Acme Corp"}`); got != http.StatusCreated {
		t.Fatalf("register with an org.admin token: %d", got)
	}
	inviter := mint(t, "--secret-file", file, "--sub", "hr-1", "--perm", "acme=org.user.invite", "--perm", "other=org.read")
	if got := call("POST", "acme/invitations", inviter, invite); got != http.StatusCreated {
		t.Fatalf("invite with an org.user.invite token: %d", got)
	}
	for name, token := range map[string]string{
		"another permission":   mint(t, "--secret-file", file, "--sub", "viewer-1", "--perm", "acme=org.read,org.user.read"),
		"another organization": mint(t, "--secret-file", file, "--sub", "hr-2", "--perm", "other=org.user.invite"),
	} {
		if got := call("POST", "acme/invitations", token, invite); got != http.StatusForbidden {
			t.Errorf("invite with %s: %d, want 403", name, got)
		}
	}
	// The secret from the environment, as the service's variable names it.
	t.Setenv("INVITESVC_JWT_SECRET_FILE", file)
	if got := call("GET", "acme", mint(t, "--sub", "robot", "--perm", "*=org.read"), ""); got != http.StatusOK {
		t.Errorf("read with a token for every organization: %d", got)
	}
	if got := call("GET", "acme", mint(t, "--secret-file", secretFile(t), "--sub", "robot", "--perm", "*=org.read"), ""); got != http.StatusUnauthorized {
		t.Errorf("a token from another secret: %d, want 401", got)
	}
}

// TestTokenClaims: the lifetime asked for, the organizations and the
// permissions, each once.
func TestTokenClaims(t *testing.T) {
	file := secretFile(t)
	token := mint(t, "--secret-file", file, "--sub", "user-42", "--email", "ada@example.com", "--ttl", "10m",
		"--perm", "acme=org.read,org.user.invite", "--perm", "acme=org.read", "--perm", "beta=org.admin")
	var c auth.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatal(err)
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) != 10*time.Minute || c.Subject != "user-42" || c.Email != "ada@example.com" {
		t.Errorf("claims %+v", c)
	}
	if got := c.OrgPermissions; len(got) != 2 || strings.Join(got["acme"], ",") != "org.read,org.user.invite" || strings.Join(got["beta"], ",") != "org.admin" {
		t.Errorf("org_permissions %v", got)
	}
}

func TestTokenRefuses(t *testing.T) {
	file := secretFile(t)
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INVITESVC_JWT_SECRET", "")
	t.Setenv("INVITESVC_JWT_SECRET_FILE", "")
	for want, args := range map[string][]string{
		`"org.invite" is not a permission: want org.read, org.user.read, org.user.invite, org.admin`: {"--secret-file", file, "--sub", "a", "--perm", "acme=org.invite"},
		`"Acme Corp" is not an organization id`:                                                      {"--secret-file", file, "--sub", "a", "--perm", "Acme Corp=org.read"},
		"want ORG=PERM":                                                                              {"--secret-file", file, "--sub", "a", "--perm", "org.read"},
		"--ttl 0s: want more than 0":                                                                 {"--secret-file", file, "--sub", "a", "--ttl", "0s"},
		"--ttl 200h0m0s: want more than":                                                             {"--secret-file", file, "--sub", "a", "--ttl", "200h"},
		"give --sub":                                                                                 {"--secret-file", file},
		"give --secret-file":                                                                         {"--sub", "a"},
		"not both":                                                                                   {"--secret-file", file, "--secret", strings.Repeat("s", 32), "--sub", "a"},
		"has 10 bytes, want at least 32":                                                             {"--secret-file", short, "--sub", "a"},
		"unexpected argument":                                                                        {"--secret-file", file, "--sub", "a", "extra"},
	} {
		var out bytes.Buffer
		err := run(append([]string{"token"}, args...), &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) || out.Len() > 0 {
			t.Errorf("token %s: %v (printed %q), want an error saying %s", strings.Join(args, " "), err, out.String(), want)
		}
	}
}

// TestEnvPrefix: invitectl's own INVITECTL_ variable wins over the
// service's INVITESVC_ one, which it still reads.
func TestEnvPrefix(t *testing.T) {
	t.Setenv("INVITESVC_NATS_URL", "nats://service:4222")
	if got := env("NATS_URL"); got != "nats://service:4222" {
		t.Errorf("with the service's variable only: %q", got)
	}
	t.Setenv("INVITECTL_NATS_URL", "nats://127.0.0.1:4333")
	if got := env("NATS_URL"); got != "nats://127.0.0.1:4333" {
		t.Errorf("with both: %q", got)
	}
}
