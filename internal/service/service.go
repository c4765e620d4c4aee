package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/datadir"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/httpapi"
	"github.com/invitesvc/invitesvc/transport/keystore"
	"github.com/invitesvc/invitesvc/transport/webhooks"
)

// Config is every setting of the service.
type Config struct {
	NATSURL     string // external NATS; empty starts an embedded server
	DataDir     string // the embedded server's store
	NATSListen  string // expose the embedded server over TCP
	SyncAlways  bool   // fsync every JetStream write before acknowledging
	MaxStore    int64  // bytes the embedded server may keep on disk; 0: nats-server's default
	Replicas    int    // stream replicas (1 embedded, 3 in a cluster)
	RedisURL    string // empty keeps read models in memory
	RedisPrefix string // key prefix in Redis
	JWTSecret   string
	JWKSFile    string
	JWKSURL     string
	JWTIssuer   string
	JWTAudience string
	// NATSNKeyFile or NATSCredsFile authenticate the service to an external
	// NATS (an nkey seed file, a JWT creds file); the embedded server uses
	// the seeds it keeps in the data directory.
	NATSNKeyFile  string
	NATSCredsFile string

	// FailuresPerMinute and FailureBurst rate limit failed token look-ups
	// and accepts per client address.
	FailuresPerMinute float64
	FailureBurst      int
	// TrustedProxies are load balancers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the origins whose pages may call the API from a
	// browser (README "HTTP conventions"), each as httpapi.CheckOrigin
	// wants it; none by default.
	CORSOrigins []string
	// InvitationsPerHour bounds the invitations one organization creates
	// per hour on one replica.
	InvitationsPerHour int
	// EventCacheSize is how many aggregates the event store keeps in
	// memory (see README "Aggregate loads and the cache"); 0 is
	// eventstore.DefaultCacheSize, a negative number none.
	EventCacheSize int
	// SigningKey is the PEM file of the Ed25519 key events are signed
	// with; empty keeps one in DataDir/signing (dev mode).
	SigningKey string
	// VerifyKeys are PEM files of the public keys events are verified
	// against besides the signing key's own: those signed with before.
	VerifyKeys []string
	// KEKFile is the key-encryption key that wraps the keys of personal
	// data (32 random bytes, hex or base64); empty keeps one in
	// DataDir/key-encryption-key (dev mode). PreviousKEKFiles are KEKs
	// rotated out: the keys they still wrap are read, and rewrapped with
	// KEKFile's at start. See README "Personal data and erasure".
	KEKFile          string
	PreviousKEKFiles []string
	// How invitations reach people (README section of that name):
	// AcceptURL is the --accept-url template of the links; the tokens are
	// sealed to DeliveryRecipients (age recipients, or files of them) and
	// opened by the mailer with DeliveryIdentityFile, which sends over
	// SMTPURL (the outbox in DataDir without one) as MailFrom, with the
	// templates of MailTemplates over the embedded ones.
	// CreateDeliveryIdentity makes DeliveryIdentityFile when it does not
	// exist: dev mode's, in the data directory (DevIdentityFile).
	AcceptURL              string
	DeliveryRecipients     string
	DeliveryIdentityFile   string
	CreateDeliveryIdentity bool
	SMTPURL                string
	MailFrom               string
	MailTemplates          string
	// SMTPTLSConfig replaces the system's roots for the SMTP server (tests).
	SMTPTLSConfig *tls.Config
	// MailRetryBackoff is the mailer's first wait before a retry; 0 is
	// its default.
	MailRetryBackoff time.Duration
	// AcceptUnverified are the sequences of events that do not verify which
	// an operator decided the projection steps over (not applied).
	AcceptUnverified []uint64
	// Webhooks are the webhook dispatcher's settings.
	Webhooks WebhooksConfig
	// OTLPEndpoint, when set (http://host:4318), exports traces over OTLP/HTTP.
	OTLPEndpoint string
	// Version is reported in traces.
	Version string
	Logger  *slog.Logger     // slog.Default when nil
	Now     func() time.Time // the clock; time.Now when nil
}

// DefaultConfig is what invitesvc runs with when no flag says otherwise: its
// flags take their defaults from here.
func DefaultConfig() Config {
	return Config{
		DataDir:            "./data",
		SyncAlways:         true,
		Replicas:           1,
		RedisPrefix:        "invitesvc:",
		FailuresPerMinute:  10,
		FailureBurst:       20,
		InvitationsPerHour: 1000,
		EventCacheSize:     eventstore.DefaultCacheSize,
		Webhooks:           defaultWebhooks(),
	}
}

// withDefaults gives the settings whose zero value would make no sense (no
// stream replica, no failed attempt allowed, no invitation) DefaultConfig's
// values, and a nil logger or clock the default one.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Replicas == 0 {
		c.Replicas = d.Replicas
	}
	if c.FailuresPerMinute == 0 || c.FailureBurst == 0 {
		c.FailuresPerMinute, c.FailureBurst = d.FailuresPerMinute, d.FailureBurst
	}
	if c.InvitationsPerHour == 0 {
		c.InvitationsPerHour = d.InvitationsPerHour
	}
	if c.EventCacheSize == 0 {
		c.EventCacheSize = d.EventCacheSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service is a running instance.
type Service struct {
	Handler http.Handler
	// DevSecret is the HS256 secret of dev mode (no keys configured), else
	// nil; DevSecretFile is the file that keeps it.
	DevSecret     []byte
	DevSecretFile string
	// NATSUsers are the embedded server's users, nil with an external NATS.
	NATSUsers *NATSUsers

	cfg         Config
	keys        eventstore.Keys
	ns          *server.Server
	nc          *nats.Conn
	rdb         *redis.Client
	events      *eventstore.Store
	personal    *keystore.Store
	webhooks    *webhooks.Dispatcher
	batches     batchMetrics
	store       projections.Store
	projections *Projections
	delivery    delivery
	mailer      *Mailer
	mails       mailMetrics
	// Outbox is where the mailer writes the emails when it has no SMTP
	// server (dev mode), else empty.
	Outbox     string
	ctx        context.Context // ends when the service closes
	stop       context.CancelFunc
	background sync.WaitGroup // the expiry's, the write probe's and the stream guard's goroutines
	probe      *writeProbe
	guard      *streamGuard
	unlock     func() error // releases the data directory, when the embedded server has it
	// stopTracing flushes and stops the trace exporter, when tracing is on.
	stopTracing func(context.Context) error
}

// Start connects to (or starts) NATS, makes sure of the stream, opens the
// read store, catches the read models up with the stream and returns the
// service ready to serve.
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	cfg = cfg.withDefaults()
	s := &Service{cfg: cfg, batches: newBatchMetrics(), mails: newMailMetrics()}
	s.ctx, s.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if cfg.OTLPEndpoint != "" {
		if s.stopTracing, err = startTracing(ctx, cfg.OTLPEndpoint, cfg.Version); err != nil {
			return nil, err
		}
	}
	// The embedded server's data directory first: a wrong one is said at
	// once, before anything is written into it.
	if cfg.NATSURL == "" {
		if s.unlock, err = datadir.Lock(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if s.keys, err = cfg.signingKeys(); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if err := s.connectNATS(ctx); err != nil {
		return nil, err
	}
	if err := s.openKeys(ctx); err != nil {
		return nil, err
	}
	s.probe = startWriteProbe(s.ctx, &s.background, s.events.JetStream(), cfg.Replicas, cfg.Logger)
	if err := s.openReadStore(ctx); err != nil {
		return nil, err
	}
	verifier, err := s.verifier(ctx)
	if err != nil {
		return nil, err
	}
	if s.delivery, err = cfg.openDelivery(); err != nil {
		return nil, err
	}
	s.guard = &streamGuard{js: s.events.JetStream(), logger: cfg.Logger}
	if err := s.guard.check(ctx); err != nil {
		return nil, fmt.Errorf("read stream %s: %w", eventstore.StreamName, err)
	}
	s.background.Go(func() { s.guard.watch(s.ctx) })
	var waiter *projections.Waiter
	if s.guard.historyLost() {
		// Projecting would stop at the first missing event and retry it
		// forever: the read models stay as they are, and readiness and
		// the commands say why.
		waiter = projections.NewWaiter(s.store, cfg.Logger)
	} else {
		if err := s.startProjections(); err != nil {
			return nil, err
		}
		if err := s.catchUp(ctx); err != nil {
			return nil, err
		}
		waiter = s.projections.Waiter
	}
	registry, observer := s.registerMetrics()
	var opts []commands.Option
	if s.delivery.sealer != nil {
		opts = append(opts, commands.SealTokens(s.delivery.sealer))
	}
	handlers := commands.New(guardedEvents{EventStore: s.events, guard: s.guard}, s.personal, projections.CommandReads{Waiter: waiter, Store: s.store}, cfg.Now, observer, opts...)
	s.startExpiry(handlers.ExpireInvitation)
	if err := s.startMailer(handlers.Delivery); err != nil {
		return nil, err
	}
	hooks, err := s.startWebhooks(ctx, projections.CommandReads{Waiter: waiter, Store: s.store}, observer, registry)
	if err != nil {
		return nil, err
	}
	s.Handler = httpapi.New(httpapi.Deps{
		Commands:       httpapi.CommandHandlers(handlers),
		Queries:        projections.NewQueries(s.store, cfg.Now),
		Events:         openedHistory{History: s.events.History(), personal: s.personal},
		Verifier:       verifier,
		Limiter:        httpapi.NewFailureLimiter(cfg.FailuresPerMinute, cfg.FailureBurst),
		Invites:        httpapi.NewInviteLimiter(cfg.InvitationsPerHour),
		Webhooks:       hooks,
		TrustedProxies: cfg.TrustedProxies,
		CORSOrigins:    cfg.CORSOrigins,
		AcceptURL:      s.delivery.links,
		Logger:         cfg.Logger,
		Metrics:        registry,
		Now:            cfg.Now,
		Extra: map[string]http.Handler{
			"/healthz": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok") }),
			"/readyz":  http.HandlerFunc(s.readyz),
			"/metrics": metricsHandler(registry, cfg.Logger),
		},
	})
	return s, nil
}

func (s *Service) connectNATS(ctx context.Context) error {
	var err error
	if s.cfg.NATSURL != "" {
		s.nc, err = connectExternalNATS(s.cfg)
	} else {
		err = s.startEmbeddedNATS()
	}
	if err != nil {
		return err
	}
	// Before the stream is made: a server too old would make it without
	// the setting it does not know.
	if err := checkServerVersion(s.nc.ConnectedUrlRedacted(), s.nc.ConnectedServerVersion()); err != nil {
		return err
	}
	if s.events, err = eventstore.New(s.nc, s.keys, eventstore.WithBatchObserver(s.batches), eventstore.WithCache(s.cfg.EventCacheSize)); err != nil {
		return err
	}
	if err := eventstore.EnsureStream(ctx, s.events.JetStream(), s.cfg.Replicas); err != nil {
		return err
	}
	return checkAtomicPublish(ctx, s.events.JetStream(), s.nc.ConnectedServerVersion())
}

func (s *Service) openReadStore(ctx context.Context) error {
	if s.cfg.RedisURL == "" {
		s.store = projections.NewMemoryStore()
		return nil
	}
	opts, err := redis.ParseURL(s.cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, time.Second, time.Second
	s.rdb = redis.NewClient(opts)
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connect to Redis at %s: %w", opts.Addr, err)
	}
	s.store = redisstore.New(s.rdb, s.cfg.RedisPrefix)
	return nil
}

// durableName is the consumer the replicas sharing one Redis share.
const durableName = eventstore.ServiceDurable

func (s *Service) startProjections() (err error) {
	durable := ""
	if s.rdb != nil {
		durable = durableName
	}
	s.projections, err = StartProjections(ProjectionConfig{JetStream: s.events.JetStream(), Store: s.store, Personal: s.personal, Durable: durable,
		Keyring: s.keys.Keyring, AcceptUnverified: s.cfg.AcceptUnverified, Logger: s.cfg.Logger})
	return err
}

// startExpiry records invitation.expired for each pending invitation once
// its expires_at passes. Every replica follows the invitation events and
// tries; the expected sequence lets exactly one of them write.
func (s *Service) startExpiry(expire *commands.ExpireInvitationHandler) {
	deadlines := projections.NewDeadlines()
	s.background.Go(func() {
		err := eventstore.Follow(s.ctx, s.events.JetStream(), []string{"invitations.*.*.*"}, func(r domain.Recorded) { deadlines.Observe(r.Event) })
		if err != nil && s.ctx.Err() == nil {
			s.cfg.Logger.Error("expiry: cannot follow invitation events", "error", err)
		}
	})
	s.background.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-tick.C:
			}
			for _, k := range deadlines.Due(s.cfg.Now()) {
				ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
				err := expire.Handle(ctx, commands.ExpireInvitation{OrganizationID: k.OrganizationID, InvitationID: k.InvitationID})
				cancel()
				switch {
				case err == nil || s.ctx.Err() != nil:
				case s.guard.err() != nil:
					deadlines.Retry(k, s.cfg.Now().Add(guardInterval)) // the guard has said why, once
				default:
					s.cfg.Logger.Warn("expiry: will retry", "organization_id", k.OrganizationID, "invitation_id", k.InvitationID, "error", err)
					deadlines.Retry(k, s.cfg.Now().Add(time.Second))
				}
			}
		}
	})
}

// catchUp waits until the read models hold every event already in the
// stream, so that the first answers are complete.
func (s *Service) catchUp(ctx context.Context) error {
	last, err := s.events.LastSequence(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	for {
		cp, err := s.store.Checkpoint(ctx)
		if err == nil && cp >= last {
			s.cfg.Logger.Info("read models caught up", "events", last, "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		// Halted, it will not catch up: serve, unready, for the operator.
		if s.projections.Halted() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("catching up the read models: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []error
	if err := s.guard.err(); err != nil {
		problems = append(problems, err)
	}
	last, err := s.events.LastSequence(ctx)
	if err != nil {
		problems = append(problems, fmt.Errorf("event store: %w", err))
	} else if err := s.probe.writable(); err != nil {
		problems = append(problems, fmt.Errorf("event store: %w", err))
	}
	if err := s.store.Ping(ctx); err != nil {
		problems = append(problems, fmt.Errorf("read store: %w", err))
	}
	if err := s.projections.Halted(); err != nil {
		problems = append(problems, fmt.Errorf("projections: %w", err))
	}
	if len(problems) == 0 {
		if err := projections.WaitCaughtUp(ctx, s.store, last, time.Second); err != nil {
			problems = append(problems, fmt.Errorf("projections: %w", err))
		}
	}
	if len(problems) > 0 {
		writeStatus(w, http.StatusServiceUnavailable, errors.Join(problems...).Error())
		return
	}
	writeStatus(w, http.StatusOK, "ready")
}

func writeStatus(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, text)
}

// Close stops the projections after the batch in hand is applied, waits
// for every goroutine the service started and closes every connection. It
// also undoes a Start that failed half-way.
func (s *Service) Close() {
	if s.webhooks != nil {
		s.webhooks.Close()
	}
	if err := s.mailer.Close(); err != nil {
		s.cfg.Logger.Warn("mailer did not stop cleanly", "error", err)
	}
	if s.projections != nil {
		if err := s.projections.Close(); err != nil {
			s.cfg.Logger.Warn("projections did not stop cleanly", "error", err)
		}
	}
	s.stop()
	s.background.Wait()
	if s.stopTracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.stopTracing(ctx)
	}
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.nc != nil {
		_ = s.nc.Drain()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	if s.unlock != nil {
		_ = s.unlock()
	}
}

// verifier builds the token verifier, or the dev-mode one when no key is
// configured: its secret is kept in the data directory so that tokens
// survive restarts.
func (s *Service) verifier(ctx context.Context) (*auth.Verifier, error) {
	v, err := auth.NewVerifier(ctx, auth.Config{Secret: []byte(s.cfg.JWTSecret), JWKSFile: s.cfg.JWKSFile, JWKSURL: s.cfg.JWKSURL,
		Issuer: s.cfg.JWTIssuer, Audience: s.cfg.JWTAudience})
	if !errors.Is(err, auth.ErrNoKeys) {
		return v, err
	}
	s.DevSecretFile = filepath.Join(s.cfg.DataDir, "dev-jwt-secret")
	if abs, err := filepath.Abs(s.DevSecretFile); err == nil {
		s.DevSecretFile = abs // the banner's commands then work from any directory
	}
	secret, err := devSecret(s.DevSecretFile)
	if err != nil {
		return nil, err
	}
	s.DevSecret = secret
	return auth.NewVerifier(ctx, auth.Config{Secret: secret})
}

// devSecret reads the secret kept in path as invitectl token reads it, or
// makes one: text, so that it can also be pasted into --jwt-secret.
func devSecret(path string) ([]byte, error) {
	if b, err := auth.ReadSecretFile(path); err == nil {
		return b, nil
	}
	secret := auth.NewSecretText()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("keep the dev secret: %w", err)
	}
	return secret, nil
}
