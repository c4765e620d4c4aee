package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestPanicBecomesInternalErrorEnvelope(t *testing.T) {
	var logs strings.Builder
	s := &server{Deps: Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
	h := s.withRequestID(s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internals")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	body, _ := io.ReadAll(rec.Body)
	var env struct {
		Errors []apiError `json:"errors"`
	}
	if err := json.Unmarshal(body, &env); err != nil || rec.Code != 500 || env.Errors[0].Code != "root.internal_error" {
		t.Fatalf("%d %s", rec.Code, body)
	}
	if strings.Contains(string(body), "secret internals") || !strings.Contains(logs.String(), "secret internals") {
		t.Fatalf("the panic must reach the log only; body %s", body)
	}
	if rec.Header().Get("X-Error-Codes") != "root.internal_error" || rec.Header().Get("X-Request-Id") == "" {
		t.Fatalf("headers %v", rec.Header())
	}
}

func TestRequestIDKeptWhenSane(t *testing.T) {
	s := &server{}
	h := s.withRequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for in, kept := range map[string]bool{"abc-123": true, "bad id\x7f": false, strings.Repeat("a", 129): false} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Request-Id", in)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-Id"); (got == in) != kept || got == "" {
			t.Errorf("X-Request-Id %q answered %q", in, got)
		}
	}
}

func TestClientKeyBehindTrustedProxies(t *testing.T) {
	s := &server{Deps: Deps{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	tests := []struct{ peer, forwarded, want string }{
		{"192.0.2.7:5555", "", "192.0.2.7"},
		{"192.0.2.7:5555", "203.0.113.9", "192.0.2.7"},                          // not a proxy: its header is ignored
		{"10.1.2.3:5555", "203.0.113.9", "203.0.113.9"},                         // the balancer names the client
		{"10.1.2.3:5555", "198.51.100.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"}, // forged left part ignored
		{"10.1.2.3:5555", "garbage, 203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:5555", "", "10.1.2.3"},
		{"[::1]:5555", "2001:db8::5", "2001:db8::/64"},
		{"[::ffff:192.0.2.7]:5555", "", "192.0.2.7"},
		{"10.1.2.3:5555", "2001:db8:0:1:2:3:4:5", "2001:db8:0:1::/64"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		if tt.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tt.forwarded)
		}
		if got := s.clientKey(r); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tt.peer, tt.forwarded, got, tt.want)
		}
	}
}
