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
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/transport/accepturl"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/httpapi"
	"github.com/invitesvc/invitesvc/transport/mailer"
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
	jwtSecretFile  string
	service.Config
	// fromEnv names the environment variable each setting not given as a
	// flag came from, for the messages about it.
	fromEnv map[string]string
}

// parse reads flags, each of which may also come from INVITESVC_<NAME>.
func parse(args []string, stderr io.Writer) (settings, error) {
	s := settings{Config: service.DefaultConfig(), fromEnv: map[string]string{}}
	fs := flags(&s, stderr)
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
			s.fromEnv[f.Name] = env
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	if s.jwtSecretFile != "" {
		if s.JWTSecret != "" {
			return s, fmt.Errorf("give %s or %s, not both", s.name("jwt-secret"), s.name("jwt-secret-file"))
		}
		secret, err := auth.ReadSecretFile(s.jwtSecretFile)
		if err != nil {
			return s, fmt.Errorf("%s: %w", s.name("jwt-secret-file"), err)
		}
		s.JWTSecret = string(secret)
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

// flags is the service's flag set, each flag setting its field of s.
func flags(s *settings, stderr io.Writer) *flag.FlagSet {
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
	fs.StringVar(&s.jwtSecretFile, "jwt-secret-file", "", "read the HS256 secret from this file (one trailing newline is dropped), instead of --jwt-secret; invitectl token --secret-file mints tokens from the same file")
	fs.StringVar(&s.JWKSFile, "jwks-file", "", "JWKS file with the public keys for RS256/ES256/EdDSA")
	fs.StringVar(&s.JWKSURL, "jwks-url", "", "JWKS URL with the public keys for RS256/ES256/EdDSA")
	fs.StringVar(&s.JWTIssuer, "jwt-issuer", "", "required iss claim, when set")
	fs.StringVar(&s.JWTAudience, "jwt-audience", "", "required aud claim, when set")
	fs.Float64Var(&s.FailuresPerMinute, "failed-attempts-per-minute", s.FailuresPerMinute, "failed token look-ups and accepts allowed per client address per minute")
	fs.IntVar(&s.FailureBurst, "failed-attempts-burst", s.FailureBurst, "failed token look-ups and accepts allowed at once per client address")
	fs.IntVar(&s.InvitationsPerHour, "invitations-per-org-per-hour", s.InvitationsPerHour, "invitations one organization may create per hour (per replica), then 429")
	fs.IntVar(&s.EventCacheSize, "event-cache-size", s.EventCacheSize, "aggregates whose events the event store keeps in memory, about 1.6 KB each (-1: none, every command reads the stream)")
	fs.StringVar(&s.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of load balancers whose X-Forwarded-For names the client (e.g. 10.0.0.0/8)")
	fs.Func("cors-origins", "comma-separated origins whose pages may call the API from a browser, exactly as browsers send them (e.g. https://console.example.com); empty: none", func(v string) error {
		s.CORSOrigins = splitList(v)
		for _, origin := range s.CORSOrigins {
			if err := httpapi.CheckOrigin(origin); err != nil {
				return err
			}
		}
		return nil
	})
	fs.StringVar(&s.OTLPEndpoint, "otlp-endpoint", "", "export traces over OTLP/HTTP to this base URL, as OTEL_EXPORTER_OTLP_ENDPOINT: traces go to its path + /v1/traces (e.g. http://127.0.0.1:4318); empty: no tracing")
	fs.StringVar(&s.SigningKey, "signing-key", "", "PEM file of the Ed25519 private key events are signed with (PKCS#8); empty keeps a key pair in <data-dir>/signing")
	fs.Func("verify-keys", "comma-separated PEM files of further public keys events are verified against (keys signed with before a rotation, other replicas')", func(v string) error {
		s.VerifyKeys = append(s.VerifyKeys, splitList(v)...)
		return nil
	})
	fs.StringVar(&s.KEKFile, "key-encryption-key-file", "", "file of the key-encryption key (32 random bytes, hex or base64: openssl rand -hex 32) that wraps the keys of personal data; empty keeps one in <data-dir>/key-encryption-key")
	fs.Func("previous-key-encryption-key-file", "comma-separated files of key-encryption keys rotated out: keys and webhook secrets they still wrap are read, and rewrapped with --key-encryption-key-file's at start", func(v string) error {
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
	fs.StringVar(&s.AcceptURL, "accept-url", "", "template of the links that accept an invitation, with {token} once (e.g. https://app.example.com/invite?token={token}); the answers that carry a token carry its link, the emails hold it. Embedded server: defaults to the service's own look-up by token")
	fs.StringVar(&s.DeliveryRecipients, "delivery-recipient", "", "comma-separated age recipients (age1..., from age-keygen) or files of them, to which each invitation's token is sealed in its events for delivery; empty: the --delivery-identity-file's own key")
	fs.StringVar(&s.DeliveryIdentityFile, "delivery-identity-file", "", "age identity file (age-keygen's output) the mailer opens the sealed tokens with; without it this process sends no email. Embedded server with neither delivery flag: one kept in <data-dir>/delivery-identity")
	fs.StringVar(&s.SMTPURL, "smtp-url", "", "the mailer's SMTP server: smtp://user:password@host:587 (STARTTLS required; ?tls=opportunistic or ?tls=none for a trusted relay), smtps://... for implicit TLS (465); empty: each email is written to <data-dir>/outbox")
	fs.StringVar(&s.MailFrom, "mail-from", "", "From of the emails (e.g. 'Acme <invitations@acme.com>'); required with --smtp-url")
	fs.StringVar(&s.MailTemplates, "mail-templates", "", "directory of email templates (subject.txt, body.txt, body.html, and <locale>/ variants) that replace the embedded ones")
	webhookFlags(fs, &s.Webhooks)
	fs.StringVar(&s.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: invitesvc [flags]    (or: invitesvc version)\n\n"+
			"Runs the invitations service. Every flag can also be set with an environment\n"+
			"variable: --http-addr is INVITESVC_HTTP_ADDR, and so on. Flags win.\n\n")
		fs.PrintDefaults()
	}
	return fs
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

// name is how a message names a setting: its flag, and the environment
// variable it came from, if it did: a variable exported for another
// program (invitectl) is otherwise hard to find.
func (s settings) name(flag string) string {
	if env, ok := s.fromEnv[flag]; ok {
		return fmt.Sprintf("--%s (set by %s)", flag, env)
	}
	return "--" + flag
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
			hint := ""
			if s.fromEnv["nats-url"] != "" {
				hint = "; invitectl reads INVITECTL_NATS_URL, which the service does not"
			}
			errs = append(errs, fmt.Errorf("%s exposes the embedded server; it cannot be used with %s%s", s.name("nats-listen"), s.name("nats-url"), hint))
		}
	}
	if s.NATSNKeyFile != "" && s.NATSCredsFile != "" {
		errs = append(errs, errors.New("give --nats-nkey or --nats-creds, not both"))
	}
	if s.NATSURL == "" && s.Replicas > 1 {
		errs = append(errs, fmt.Errorf("%s %d needs a NATS cluster (--nats-url): the embedded server is a single node and keeps one copy of the stream", s.name("stream-replicas"), s.Replicas))
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
		if _, err := service.TracesURL(s.OTLPEndpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := accepturl.Parse(s.AcceptURL); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", s.name("accept-url"), err))
	}
	if s.SMTPURL != "" {
		if _, err := mailer.NewSMTP(s.SMTPURL, nil); err != nil {
			errs = append(errs, err)
		}
		if s.MailFrom == "" {
			errs = append(errs, fmt.Errorf("%s needs --mail-from, the From of the emails", s.name("smtp-url")))
		}
		if devIdentity := s.NATSURL == "" && s.DeliveryRecipients == ""; s.DeliveryIdentityFile == "" && !devIdentity {
			errs = append(errs, fmt.Errorf("%s is the mailer's, which runs with --delivery-identity-file", s.name("smtp-url")))
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
	logger := newLogger(stderr, lvl)
	s.Logger = logger
	s.Version = version

	// The address first: taken, it is said before anything starts.
	listener, err := net.Listen("tcp", s.httpAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	defer listener.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s.embeddedDelivery(listener.Addr())
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	svc, err := service.Start(startCtx, s.Config)
	cancel()
	if err != nil {
		return err
	}
	defer svc.Close()
	if svc.DevSecret != nil {
		announceDevMode(stderr, svc.DevSecret, svc.DevSecretFile, reachable(listener.Addr()), svc.Outbox)
	}
	if svc.NATSUsers != nil && s.NATSListen != "" {
		announceNATSUsers(stderr, svc.NATSUsers, s.NATSListen)
	}

	srv := service.NewHTTPServer(svc.Handler)
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

// embeddedDelivery gives the embedded default what it needs to deliver
// invitations with no delivery flag: dev mode keeps an identity beside the
// stream, as it keeps its signing key, and the links are the service's own
// look-up by token. An external NATS has replicas, which would each make
// an identity of their own: there, delivery is configured or off.
func (s *settings) embeddedDelivery(addr net.Addr) {
	if s.NATSURL != "" {
		return
	}
	if s.DeliveryRecipients == "" && s.DeliveryIdentityFile == "" {
		s.DeliveryIdentityFile, s.CreateDeliveryIdentity = filepath.Join(s.DataDir, service.DevIdentityFile), true
	}
	if s.AcceptURL == "" {
		s.AcceptURL = "http://" + reachable(addr) + "/api/v1/organizations/invitations/" + accepturl.Placeholder
	}
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

// newLogger writes JSON lines. Durations are logged as milliseconds, the
// unit in the key ("took" becomes "took_ms": 31.2), whoever logs them (the
// service, watermill): slog would write nanoseconds under the bare key.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				return slog.Float64(a.Key+"_ms", float64(a.Value.Duration().Microseconds())/1000)
			}
			return a
		}}))
}

// reachable is the address a client on this machine dials for addr: an
// unspecified host (0.0.0.0, or :: as Go listens on ":8080") takes
// connections to 127.0.0.1 too.
func reachable(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return addr.String()
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port()).String()
}

// announceDevMode says loudly that tokens are signed with a local secret,
// hands the user a token to start with and a first request that works on
// a fresh store.
func announceDevMode(w io.Writer, secret []byte, secretFile, addr, outbox string) {
	token, err := auth.Mint(secret, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "dev-admin"},
		Email:            "dev-admin@example.com",
		Name:             "Dev Admin",
		OrgPermissions:   map[string][]string{auth.AnyOrganization: auth.Permissions},
	}, 24*time.Hour)
	if err != nil {
		token = "(could not mint: " + err.Error() + ")"
	}
	fmt.Fprintf(w, `
################################################################################
#  DEV MODE: no --jwt-secret, --jwt-secret-file, --jwks-file or --jwks-url was given.
#  Tokens are signed with a random secret kept in %[2]s
#  Never run like this in production.
################################################################################
An admin token for every organization (24 h):

  export ADMIN_TOKEN=%[1]s

Register a first organization (201; 200 when run again):

  curl -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d '{"name": "Acme Corp"}' http://%[3]s/api/v1/organizations/acme

Mint other tokens (permissions: %[4]s):

  go run ./cmd/invitectl token --secret-file %[2]s \
    --sub user-42 --email ada@example.com --perm acme=org.read,org.user.invite

`, token, secretFile, addr, strings.Join(auth.Permissions, ", "))
	if outbox != "" {
		fmt.Fprintf(w, "Invitation emails are not sent (no --smtp-url): each is written to\n\n  %s\n\n", outbox)
	}
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
