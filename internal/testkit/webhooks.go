package testkit

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Receiver is a downstream webhook endpoint, an HTTPS server the test
// starts. It verifies every delivery with each secret it trusts, with the
// Standard Webhooks project's own Go library (nothing of the sender's
// code), and applies each webhook-id once, as a receiver that deduplicates.
type Receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	secrets  []string
	answer   func(n int) int // the status of the n-th request (from 1)
	hang     chan struct{}
	requests []Request
	applied  []string
	bodies   map[string]string
}

// Request is one request a Receiver got.
type Request struct {
	WebhookID  string
	Signatures int      // in webhook-signature
	VerifiedBy []string // the trusted secrets its signatures verify with
	Status     int      // answered
}

// StartReceiver starts a receiver over HTTPS, trusted by pool (which
// deliveries use as their roots), or over plain HTTP when pool is nil (for
// a service run as a process, with --webhooks-allow-insecure). It stops
// when t ends.
func StartReceiver(t testing.TB, pool *x509.CertPool) *Receiver {
	t.Helper()
	r := &Receiver{bodies: map[string]string{}}
	if pool == nil {
		r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	} else {
		r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
		pool.AddCert(r.srv.Certificate())
	}
	t.Cleanup(r.srv.Close)
	return r
}

// URL is where the receiver takes deliveries.
func (r *Receiver) URL() string { return r.srv.URL + "/hooks" }

// Server is the receiver's server, for tests that change its handler.
func (r *Receiver) Server() *httptest.Server { return r.srv }

// Trust adds a signing secret (whsec_...) the receiver verifies with.
func (r *Receiver) Trust(secret string) {
	r.mu.Lock()
	r.secrets = append(r.secrets, secret)
	r.mu.Unlock()
}

// Answer sets the status of each request by its number (from 1); 204 by default.
func (r *Receiver) Answer(status func(n int) int) {
	r.mu.Lock()
	r.answer = status
	r.mu.Unlock()
}

// Hang makes every request wait, until the test ends, before it is answered.
func (r *Receiver) Hang(t testing.TB) {
	r.mu.Lock()
	r.hang = make(chan struct{})
	t.Cleanup(func() { close(r.hang) })
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	hang := r.hang
	got := Request{WebhookID: req.Header.Get("webhook-id"), Signatures: len(strings.Fields(req.Header.Get("webhook-signature"))), Status: http.StatusNoContent}
	for _, s := range r.secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err == nil && wh.Verify(body, req.Header) == nil {
			got.VerifiedBy = append(got.VerifiedBy, s)
		}
	}
	if r.answer != nil {
		got.Status = r.answer(len(r.requests) + 1)
	}
	r.requests = append(r.requests, got)
	if got.Status/100 == 2 && len(got.VerifiedBy) > 0 && !slices.Contains(r.applied, got.WebhookID) {
		r.applied = append(r.applied, got.WebhookID)
		r.bodies[got.WebhookID] = string(body)
	}
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
	}
	w.WriteHeader(got.Status)
}

// Requests are every request the receiver got, in order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Applied are the webhook-ids taken, once each, in the order first taken:
// from requests it answered 2xx that verified.
func (r *Receiver) Applied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.applied)
}

// Body is the body of the delivery applied under webhook-id id.
func (r *Receiver) Body(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[id]
}

// Eventually polls cond every 20 ms until it holds, or fails t after limit.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
