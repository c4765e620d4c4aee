package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/transport/auth"
)

func FuzzDecodeCreateRequest(f *testing.F) {
	for _, s := range []string{`{"emails":["a@example.com"],"role":"admin","expires_in":"3d"}`, `{"emails":null}`, `{"emails":[1]}`, `[]`, `{"emails":["a@example.com"]}{}`, `{"role":"x","extra":1}`, ``} {
		f.Add(s, "application/json")
	}
	f.Add(`{"emails":[]}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		var c createRequest
		err := decodeBody(httptest.NewRecorder(), req, &c, false)
		if err == nil {
			_, _, _, err = c.validate()
		}
		if err == nil {
			return
		}
		// Every refusal is a 4xx envelope with a code: never a 500.
		var p *problem
		if !errors.As(err, &p) || p.status < 400 || p.status >= 500 || p.errors[0].Code == "" {
			t.Fatalf("body %q answered %v", body, err)
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer", "Bearer  x", "Basic x", "Bearer a b"} {
		f.Add(s)
	}
	verifier, secret := auth.NewDevVerifier()
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", header)
		token, ok := auth.BearerToken(req)
		if !ok {
			return
		}
		if strings.ContainsAny(token, " \t") || token == "" {
			t.Fatalf("%q gave token %q", header, token)
		}
		// Random text is never a valid token: no panic, always refused.
		if _, err := verifier.Verify(token); err == nil {
			t.Fatalf("accepted %q (secret %d bytes)", token, len(secret))
		}
	})
}
