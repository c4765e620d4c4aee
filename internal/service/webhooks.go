package service

import (
	"context"
	"crypto/x509"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/transport/webhooks"
)

// WebhooksConfig is the webhooks' settings (README "Webhooks"); a zero
// value is the default of transport/webhooks.
type WebhooksConfig struct {
	// AllowInsecure lets endpoints be http and deliveries reach any
	// address (development and tests only).
	AllowInsecure bool
	Timeout       time.Duration   // of one attempt
	Schedule      []time.Duration // the waits before each retry
	DisableAfter  time.Duration   // an endpoint failing that long is disabled
	// RotationOverlap is how long a rotated secret keeps signing.
	RotationOverlap time.Duration
	// RootCAs and Hosts are test hooks: the roots deliveries trust
	// instead of the system's, and names dialled at a given address.
	RootCAs *x509.CertPool
	Hosts   map[string]string
}

// defaultWebhooks are the defaults of transport/webhooks.
func defaultWebhooks() WebhooksConfig {
	return WebhooksConfig{Timeout: webhooks.DefaultTimeout, Schedule: slices.Clone(webhooks.DefaultSchedule),
		DisableAfter: webhooks.DefaultDisableAfter, RotationOverlap: webhooks.DefaultOverlap}
}

// startWebhooks opens the webhooks' stores, starts this replica's
// dispatcher (which delivers while it holds the lease) and returns what
// the routes serve from: the one construction site of the pipeline.
func (s *Service) startWebhooks(ctx context.Context, reads commands.Projection, observer commands.Observer, reg prometheus.Registerer) (*webhooks.API, error) {
	cfg := s.cfg.Webhooks
	current, previous, err := s.cfg.keyEncryptionKeys()
	if err != nil {
		return nil, err
	}
	js := s.events.JetStream()
	stores, err := webhooks.OpenStores(ctx, js, s.cfg.Replicas, current, previous...)
	if err != nil {
		return nil, err
	}
	if len(previous) > 0 {
		s.rewrapInBackground("webhooks: every signing secret", stores.Secrets.Rewrap, current)
	}
	if cfg.RotationOverlap == 0 {
		cfg.RotationOverlap = webhooks.DefaultOverlap
	}
	handlers := commands.NewWebhooks(guardedEvents{EventStore: s.events, guard: s.guard}, stores.Secrets, reads, s.cfg.Now, observer, cfg.RotationOverlap)
	policy := webhooks.Policy{AllowInsecure: cfg.AllowInsecure}
	s.webhooks, err = webhooks.Start(webhooks.Config{JetStream: js, Stores: stores, Events: s.events.History(), Keyring: s.keys.Keyring,
		Disabler: handlers.DisableWebhook, Sender: webhooks.SenderConfig{Policy: policy, Timeout: cfg.Timeout, RootCAs: cfg.RootCAs, Hosts: cfg.Hosts},
		Schedule: cfg.Schedule, DisableAfter: cfg.DisableAfter, Metrics: webhooks.NewMetrics(reg), Logger: s.cfg.Logger})
	if err != nil {
		return nil, err
	}
	if cfg.AllowInsecure {
		s.cfg.Logger.Warn("webhooks: --webhooks-allow-insecure: endpoints may be http and deliveries reach any address, the network's inside included")
	}
	return webhooks.NewAPI(handlers, s.events.History(), stores, policy), nil
}
