package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/transport/auth"
)

// serviceSecret is startService's JWT secret.
const serviceSecret = "0123456789abcdef0123456789abcdef-invitectl"

func serviceToken(t *testing.T, sub, email string, perms map[string][]string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(serviceSecret), auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, Email: email, OrgPermissions: perms}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call is a request to the service, answering its decoded body.
func call(t *testing.T, srv *httptest.Server, method, path, token string, body any, status int) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+"/api/v1/organizations"+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %d %v; want %d", method, path, res.StatusCode, out, status)
	}
	return out
}

// invitectl erase erases an address from every organization through the
// service; afterwards history, state and events show [erased], verify is
// clean, and a rebuild leaves Redis without the address.
func TestErase(t *testing.T) {
	f := newFixture(t)
	rs := newReadStore(t)
	srv := httptest.NewServer(startService(t, f, rs).Handler)
	t.Cleanup(srv.Close)
	operator := serviceToken(t, "operator", "", map[string][]string{auth.AnyOrganization: {auth.PermOrgAdmin, auth.PermOrgUserInvite, auth.PermOrgRead}})
	const address = "ada@example.com"
	invitation := map[string]string{}
	for _, org := range []string{"acme", "globex"} {
		call(t, srv, "PUT", "/"+org, operator, map[string]any{"name": org}, http.StatusCreated)
		invs := call(t, srv, "POST", "/"+org+"/invitations", operator, map[string]any{"emails": []string{"Ada@Example.com", "bob@example.com"}}, http.StatusCreated)
		invitation[org] = invs["invitations"].([]any)[0].(map[string]any)["id"].(string)
	}
	call(t, srv, "POST", "/acme/invitations/"+invitation["acme"]+"/accept", serviceToken(t, "user-ada", address, nil), nil, http.StatusOK)

	out := f.run(t, "erase", "--email", "ADA@example.com", "--url", srv.URL, "--token", operator)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"organization_id":"acme"`) || !strings.Contains(lines[0], `"member_removed":"user-ada"`) ||
		!strings.Contains(lines[0], `"key_deleted":true`) || !strings.Contains(lines[1], `"invitations_cancelled":["`+invitation["globex"]+`"]`) {
		t.Fatalf("erase printed:\n%s", out)
	}
	again := f.run(t, "erase", "--email", address, "--url", srv.URL, "--token", operator)
	if strings.Count(again, `"key_deleted":false`) != 2 || strings.Contains(again, "user-ada") {
		t.Fatalf("erase again printed:\n%s", again)
	}

	if out := f.run(t, "history", "acme", invitation["acme"], "--json"); strings.Contains(strings.ToLower(out), address) || !strings.Contains(out, "invitation.accepted") {
		t.Fatalf("invitectl history printed:\n%s", out)
	}
	for _, args := range [][]string{{"state", "acme", "--json"}, {"events", "--json"}} {
		out := f.run(t, args...)
		if strings.Contains(strings.ToLower(out), address) || !strings.Contains(out, "[erased]") || !strings.Contains(out, "bob@example.com") {
			t.Fatalf("invitectl %s printed:\n%s", strings.Join(args, " "), out)
		}
	}
	// verify compares Redis with a replay at Redis's checkpoint, whatever the projection's lag.
	verify := append([]string{"verify"}, rs.flags()...)
	f.run(t, verify...)
	f.run(t, append([]string{"rebuild"}, rs.flags()...)...)
	if dump := rs.dump(t); strings.Contains(strings.ToLower(dump), address) || !strings.Contains(dump, "bob@example.com") {
		t.Fatalf("Redis after the rebuild holds the address, or no address at all:\n%s", dump)
	}
	f.run(t, verify...)

	// Without the key-encryption key: addresses sealed, no rebuild.
	t.Setenv("INVITECTL_KEY_ENCRYPTION_KEY_FILE", "")
	if out := f.run(t, "events", "--json"); !strings.Contains(out, "[sealed]") || strings.Contains(out, "bob@example.com") {
		t.Fatalf("events without the key-encryption key printed:\n%s", out)
	}
	if _, err := f.try(append([]string{"rebuild"}, rs.flags()...)...); err == nil || !strings.Contains(err.Error(), "--key-encryption-key-file") {
		t.Fatalf("rebuild without the key-encryption key: %v", err)
	}
}

// dump is every key and value under the store's prefix.
func (rs *readStore) dump(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, key := range rs.keys(t) {
		b.WriteString(key)
		key = rs.prefix + key
		switch rs.client.Type(t.Context(), key).Val() {
		case "string":
			b.WriteString(rs.client.Get(t.Context(), key).Val())
		case "hash":
			for k, v := range rs.client.HGetAll(t.Context(), key).Val() {
				b.WriteString(k + v)
			}
		case "zset":
			b.WriteString(strings.Join(rs.client.ZRange(t.Context(), key, 0, -1).Val(), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
