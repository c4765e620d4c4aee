package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("invitesvc", version)
		return
	}
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "invitesvc:", err)
		os.Exit(1)
	}
}

type settings struct {
	httpAddr       string
	logLevel       string
	trustedProxies string
	service.Config
}

// parse reads flags, each of which may also come from INVITESVC_<NAME>.
func parse(args []string, stderr io.Writer) (settings, error) {
	s := settings{Config: service.DefaultConfig()}
	fs := flag.NewFlagSet("invitesvc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&s.NATSURL, "nats-url", "", "external NATS (e.g. nats://127.0.0.1:4222); empty starts an embedded JetStream server")
	fs.StringVar(&s.DataDir, "data-dir", s.DataDir, "where the embedded server keeps the stream (and the dev-mode secret)")
	fs.StringVar(&s.NATSNKeyFile, "nats-nkey", "", "with --nats-url: the service's nkey seed file (role service, see deploy/nats/auth.conf)")
	fs.StringVar(&s.NATSCredsFile, "nats-creds", "", "with --nats-url: the service's JWT creds file, instead of --nats-nkey")
	fs.StringVar(&s.NATSListen, "nats-listen", "", "also expose the embedded NATS at this address (e.g. 127.0.0.1:4333) for subscribers and tools")
	fs.IntVar(&s.Replicas, "stream-replicas", s.Replicas, "replicas of the INVITATIONS stream when it is created (3 in a cluster)")
	fs.BoolVar(&s.SyncAlways, "jetstream-sync-always", s.SyncAlways, "embedded server: fsync every write before acknowledging it (false: every 2 minutes, faster, loses acknowledged events on power loss)")
	fs.Int64Var(&s.MaxStore, "jetstream-max-store", s.MaxStore, "embedded server: bytes of disk JetStream may use (0: nats-server's default, most of the free space); past it, commands answer 503")
	fs.StringVar(&s.RedisURL, "redis-url", "", "Redis for the read models (e.g. redis://127.0.0.1:6379/0); empty keeps them in memory, rebuilt from the stream at start")
	fs.StringVar(&s.RedisPrefix, "redis-prefix", s.RedisPrefix, "prefix of every Redis key")
	fs.StringVar(&s.JWTSecret, "jwt-secret", "", "HS256 secret (at least 32 bytes); with no key configured the service runs in dev mode")
	fs.StringVar(&s.JWKSFile, "jwks-file", "", "JWKS file with the public keys for RS256/ES256/EdDSA")
	fs.StringVar(&s.JWKSURL, "jwks-url", "", "JWKS URL with the public keys for RS256/ES256/EdDSA")
	fs.StringVar(&s.JWTIssuer, "jwt-issuer", "", "required iss claim, when set")
	fs.StringVar(&s.JWTAudience, "jwt-audience", "", "required aud claim, when set")
	fs.Float64Var(&s.FailuresPerMinute, "failed-attempts-per-minute", s.FailuresPerMinute, "failed token look-ups and accepts allowed per client address per minute")
	fs.IntVar(&s.FailureBurst, "failed-attempts-burst", s.FailureBurst, "failed token look-ups and accepts allowed at once per client address")
	fs.IntVar(&s.InvitationsPerHour, "invitations-per-org-per-hour", s.InvitationsPerHour, "invitations one organization may create per hour (per replica), then 429")
	fs.IntVar(&s.EventCacheSize, "event-cache-size", s.EventCacheSize, "aggregates whose events the event store keeps in memory, about 1.6 KB each (-1: none, every command reads the stream)")
	fs.StringVar(&s.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of load balancers whose X-Forwarded-For names the client (e.g. 10.0.0.0/8)")
	fs.StringVar(&s.OTLPEndpoint, "otlp-endpoint", "", "export traces over OTLP/HTTP to this URL (e.g. http://127.0.0.1:4318); empty: no tracing")
	fs.StringVar(&s.SigningKey, "signing-key", "", "PEM file of the Ed25519 private key events are signed with (PKCS#8); empty keeps a key pair in <data-dir>/signing")
	fs.Func("verify-keys", "comma-separated PEM files of further public keys events are verified against (keys signed with before a rotation, other replicas')", func(v string) error {
		s.VerifyKeys = append(s.VerifyKeys, splitList(v)...)
		return nil
	})
	fs.StringVar(&s.KEKFile, "key-encryption-key-file", "", "file of the key-encryption key (32 random bytes, hex or base64: openssl rand -hex 32) that wraps the keys of personal data; empty keeps one in <data-dir>/key-encryption-key")
	fs.Func("previous-key-encryption-key-file", "comma-separated files of key-encryption keys rotated out: keys they still wrap are read, and rewrapped with --key-encryption-key-file's at start", func(v string) error {
		s.PreviousKEKFiles = append(s.PreviousKEKFiles, splitList(v)...)
		return nil
	})
	fs.Func("accept-unverified", "comma-separated stream sequences of events that do not verify which the projection steps over (an operator's decision; they are not applied)", func(v string) error {
		for _, seq := range splitList(v) {
			n, err := strconv.ParseUint(seq, 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("%q is not a stream sequence", seq)
			}
			s.AcceptUnverified = append(s.AcceptUnverified, n)
		}
		return nil
	})
	webhookFlags(fs, &s.Webhooks)
	fs.StringVar(&s.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: invitesvc [flags]    (or: invitesvc version)\n\n"+
			"Runs the invitations service. Every flag can also be set with an environment\n"+
			"variable: --http-addr is INVITESVC_HTTP_ADDR, and so on. Flags win.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := "INVITESVC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	if err := s.validate(); err != nil {
		return s, err
	}
	for _, cidr := range splitList(s.trustedProxies) {
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil {
			return s, fmt.Errorf("--trusted-proxies: %q is not a CIDR such as 10.0.0.0/8", cidr)
		}
		s.TrustedProxies = append(s.TrustedProxies, prefix)
	}
	return s, nil
}

// splitList is the items of a comma-separated flag value, trimmed.
func splitList(v string) []string {
	var items []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func (s settings) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(s.httpAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http-addr %q is not host:port", s.httpAddr))
	}
	if s.NATSListen != "" {
		if _, _, err := net.SplitHostPort(s.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("--nats-listen %q is not host:port", s.NATSListen))
		}
		if s.NATSURL != "" {
			errs = append(errs, errors.New("--nats-listen exposes the embedded server; it cannot be used with --nats-url"))
		}
	}
	if s.NATSNKeyFile != "" && s.NATSCredsFile != "" {
		errs = append(errs, errors.New("give --nats-nkey or --nats-creds, not both"))
	}
	if s.NATSURL == "" && (s.NATSNKeyFile != "" || s.NATSCredsFile != "") {
		errs = append(errs, errors.New("--nats-nkey and --nats-creds are for --nats-url; the embedded server keeps its own credentials in <data-dir>/nats"))
	}
	if s.Replicas < 1 || s.Replicas > 5 {
		errs = append(errs, fmt.Errorf("--stream-replicas must be 1 to 5, not %d", s.Replicas))
	}
	if s.JWTSecret != "" && len(s.JWTSecret) < auth.MinSecretBytes {
		errs = append(errs, fmt.Errorf("--jwt-secret must have at least %d bytes", auth.MinSecretBytes))
	}
	if s.InvitationsPerHour < 1 {
		errs = append(errs, errors.New("--invitations-per-org-per-hour must be positive"))
	}
	if s.FailuresPerMinute <= 0 || s.FailureBurst < 1 {
		errs = append(errs, errors.New("--failed-attempts-per-minute and --failed-attempts-burst must be positive"))
	}
	if s.OTLPEndpoint != "" {
		if u, err := url.Parse(s.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--otlp-endpoint %q: want a URL such as http://127.0.0.1:4318", s.OTLPEndpoint))
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", s.logLevel))
	}
	return errors.Join(errs...)
}

func run(args []string, stderr io.Writer) error {
	s, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(s.logLevel))
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	s.Logger = logger
	s.Version = version

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	svc, err := service.Start(startCtx, s.Config)
	cancel()
	if err != nil {
		return err
	}
	defer svc.Close()
	if svc.DevSecret != nil {
		announceDevMode(stderr, svc.DevSecret, s.httpAddr)
	}
	if svc.NATSUsers != nil && s.NATSListen != "" {
		announceNATSUsers(stderr, svc.NATSUsers, s.NATSListen)
	}

	srv := service.NewHTTPServer(svc.Handler)
	listener, err := net.Listen("tcp", s.httpAddr)
	if err != nil {
		return err
	}
	logger.Info("invitesvc listening", "addr", listener.Addr().String(), "version", version,
		"nats", orDefault(s.NATSURL, "embedded"), "read_store", orDefault(redactedURL(s.RedisURL), "memory"))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(listener) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("draining: no new requests, finishing the ones in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	logger.Info("stopped")
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// redactedURL hides a password in a URL before it is logged.
func redactedURL(raw string) string {
	if i := strings.Index(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			return raw[:j+3] + "***" + raw[i:]
		}
	}
	return raw
}

// announceDevMode says loudly that tokens are signed with a local secret,
// and hands the user a token to start with.
func announceDevMode(w io.Writer, secret []byte, addr string) {
	token, err := auth.Mint(secret, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "dev-admin"},
		Email:            "dev-admin@example.com",
		OrgPermissions:   map[string][]string{"*": {auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin}},
	}, 24*time.Hour)
	if err != nil {
		token = "(could not mint: " + err.Error() + ")"
	}
	fmt.Fprintf(w, `
################################################################################
#  DEV MODE: no --jwt-secret, --jwks-file or --jwks-url was given.             #
#  Tokens are signed with a random secret kept in <data-dir>/dev-jwt-secret.   #
#  Never run like this in production.                                          #
################################################################################
An admin token for every organization (24 h):

  export ADMIN_TOKEN=%s

Mint others with:  go run ./cmd/invitectl token --secret-file ./data/dev-jwt-secret \
                     --sub user-42 --email ada@example.com
Try:  curl -H "Authorization: Bearer $ADMIN_TOKEN" http://%s/api/v1/organizations/acme

`, token, addr)
}

// announceNATSUsers tells how to reach the embedded server on --nats-listen:
// it accepts only the roles' users, whose seeds it keeps.
func announceNATSUsers(w io.Writer, users *service.NATSUsers, listen string) {
	seed := func(r eventstore.Role) string { return eventstore.SeedFile(users.Keys, r) }
	fmt.Fprintf(w, `NATS on %[1]s accepts only these users (nkey seeds, kept across restarts):
  service     %[2]s  (invitesvc itself)
  subscriber  %[3]s  (a downstream team: durable consumers %[4]s)
  auditor     %[5]s  (invitectl: read only)

Subscribe (JetStream consumers only; see the README's "NATS roles"):
  nats --server nats://%[1]s --nkey %[3]s \
    consumer add INVITATIONS mailer --pull --deliver all --ack explicit --defaults
  nats --server nats://%[1]s --nkey %[3]s consumer next INVITATIONS mailer --count 10
Audit:  go run ./cmd/invitectl stats --nats-url nats://%[1]s --nats-nkey %[5]s

`, listen, seed(eventstore.RoleService), seed(eventstore.RoleSubscriber), strings.Join(users.SubscriberConsumers, ", "), seed(eventstore.RoleAuditor))
}
