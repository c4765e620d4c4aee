package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"code.dny.dev/ssrf"

	"github.com/invitesvc/invitesvc/domain"
)

// Policy is where deliveries may go. By default: https only, to an
// address on the Internet (code.dny.dev/ssrf's guard, kept in step with
// IANA's special-purpose registries: no loopback, RFC 1918, link-local,
// unique-local, shared (CGNAT), unspecified, multicast, documentation or
// reserved address, so neither 169.254.169.254 nor fd00:ec2::254), checked
// on the address each connection is actually made to, after DNS, on every
// attempt. AllowInsecure lifts both rules, for development and tests.
type Policy struct {
	AllowInsecure bool
}

// CheckURL refuses, when an endpoint is created or changed, a URL that no
// delivery could go to: of the wrong shape (domain.CheckWebhookURL), not
// https, or naming a refused address or localhost outright. A name that
// resolves to a refused address is refused when a delivery dials it.
func (p Policy) CheckURL(raw string) error {
	if err := domain.CheckWebhookURL(raw); err != nil {
		return err
	}
	if p.AllowInsecure {
		return nil
	}
	u, _ := url.Parse(raw)
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if u.Scheme != "https" {
		return &domain.Error{Code: domain.CodeInvalidParameter, Fields: []string{"url"},
			Message: "url must be https: deliveries carry signed events (http only with --webhooks-allow-insecure)."}
	}
	addr, err := netip.ParseAddr(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || (err == nil && guard.SafeAddr(addr.Unmap()) != nil) {
		return &domain.Error{Code: domain.CodeInvalidParameter, Fields: []string{"url"},
			Message: "url may not name a loopback, private, link-local, unique-local, shared, multicast, reserved or cloud metadata address (only with --webhooks-allow-insecure)."}
	}
	return nil
}

// guard checks the address of each connection a delivery makes: any port,
// TCP over IPv4 or IPv6.
var guard = ssrf.New(ssrf.WithAnyPort())

// Client settings of deliveries.
const (
	// maxResponseBytes is how much of an answer's body is read (and
	// dropped): enough to keep the connection for the next delivery.
	maxResponseBytes = 4 << 10
	// maxResponseHeaderBytes bounds an answer's header.
	maxResponseHeaderBytes = 16 << 10
	userAgent              = "invitesvc-webhooks/1"
)

// SenderConfig is how deliveries are sent.
type SenderConfig struct {
	Policy  Policy
	Timeout time.Duration // of an attempt, from dial to the end of the answer
	// RootCAs, when set, are the only roots trusted (tests trust their
	// httptest.NewTLSServer's); nil trusts the system's.
	RootCAs *x509.CertPool
	// Hosts, when set, says at which address a name is dialled instead of
	// asking DNS, as curl's --resolve: tests use it for a name that
	// resolves to a refused address. The guard checks that address.
	Hosts map[string]string
}

// sender posts deliveries.
type sender struct {
	client  *http.Client
	policy  Policy
	timeout time.Duration
}

func newSender(cfg SenderConfig) *sender {
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	if !cfg.Policy.AllowInsecure {
		dialer.Control = guard.Safe
	}
	dial := dialer.DialContext
	if cfg.Hosts != nil {
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(address); err == nil && cfg.Hosts[host] != "" {
				address = net.JoinHostPort(cfg.Hosts[host], port)
			}
			return dialer.DialContext(ctx, network, address)
		}
	}
	transport := &http.Transport{
		// No proxy: a proxy would make the connection the guard checks.
		Proxy:                  nil,
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
	}
	return &sender{policy: cfg.Policy, timeout: cfg.Timeout, client: &http.Client{
		Transport: transport,
		// A redirect is an answer, not followed: it could lead anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Outcomes of an attempt, for the deliveries API and the metrics.
const (
	outcomeDelivered = "delivered" // 2xx
	outcomeStatus    = "status"    // another status
	outcomeGone      = "gone"      // 410: the endpoint is disabled
	outcomeTimeout   = "timeout"
	outcomeNetwork   = "network" // no answer: DNS, connection, TLS
	outcomeRefused   = "refused" // an address or scheme the policy refuses
)

var outcomes = []string{outcomeDelivered, outcomeStatus, outcomeGone, outcomeTimeout, outcomeNetwork, outcomeRefused}

// result is what one attempt got.
type result struct {
	outcome string
	status  int
	latency time.Duration
	err     string
}

// send POSTs body to rawURL with the Standard Webhooks headers: msgID as
// webhook-id, at's Unix time as webhook-timestamp, and one v1 signature
// per key in webhook-signature.
func (s *sender) send(ctx context.Context, rawURL, msgID string, body []byte, keys [][]byte, at time.Time) result {
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "https" && !s.policy.AllowInsecure) {
		return result{outcome: outcomeRefused, err: "the endpoint's url is not https"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return result{outcome: outcomeRefused, err: err.Error()}
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", signatures(msgID, ts, body, keys))
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return result{outcome: failure(err), latency: time.Since(start), err: err.Error()}
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	r := result{status: resp.StatusCode, latency: time.Since(start)}
	switch {
	case resp.StatusCode == http.StatusGone:
		r.outcome, r.err = outcomeGone, "answered 410 Gone"
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		r.outcome, r.err = outcomeStatus, fmt.Sprintf("answered %d", resp.StatusCode)
	case err != nil && !errors.Is(err, io.EOF):
		r.outcome, r.err = failure(err), "reading the answer: "+err.Error()
	default:
		r.outcome = outcomeDelivered
	}
	return r
}

// failure names why a request got no answer.
func failure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ssrf.ErrProhibitedIP), errors.Is(err, ssrf.ErrProhibitedNetwork), errors.Is(err, ssrf.ErrProhibitedPort):
		return outcomeRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return outcomeTimeout
	}
	return outcomeNetwork
}

// signatures is the webhook-signature header: for each key, "v1," and the
// base64 HMAC-SHA256 of "<id>.<timestamp>.<body>", space separated.
func signatures(msgID, timestamp string, body []byte, keys [][]byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(msgID + "." + timestamp + "."))
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}
