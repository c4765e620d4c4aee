package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/internal/redisserver"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// bench holds what the steps share: the JetStream server, Redis, the service
// and its HTTP server, the trivial server, one HTTP client, and the figures.
type bench struct {
	cfg     config
	log     io.Writer
	started time.Time
	loadAvg string   // at the start
	args    []string // the command line, for the report
	runID   string
	dir     string // temporary, removed at the end

	mu      sync.Mutex
	figures []*figure

	// The JetStream server the service uses (started here unless remote).
	ns      *server.Server
	natsURL string
	// natsCreds are the user of the run's own JetStream server; none for --nats-url.
	natsCreds eventstore.Credentials
	nc        *nats.Conn
	js        jetstream.JetStream
	replicas  int // of INVITATIONS, copied by the baseline stream

	redis    *redisserver.Server // nil with --redis-url
	redisURL string
	rdb      *redis.Client
	// prefix is where this run's keys live in Redis.
	prefix string

	svc     *service.Service
	srv     *service.HTTPServer
	api     string // the service's base URL, ending in /api/v1
	client  *http.Client
	secret  []byte
	admin   string // a token with every permission in every organization
	trivial *trivialServer

	// createRate is the create throughput measured at each concurrency; it
	// sizes the invitations made for the accept step.
	createRate map[int]float64
	// orgs are the organizations registered so far.
	orgs map[string]bool
	// reads are the invitations the look-up and list steps read.
	reads *readSet
	// serviceWarnings counts what the service logged at warn and above.
	serviceWarnings atomic.Int64
}

// countingHandler counts the records it handles.
type countingHandler struct {
	slog.Handler
	n *atomic.Int64
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.n.Add(1)
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return countingHandler{Handler: h.Handler.WithAttrs(attrs), n: h.n}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{Handler: h.Handler.WithGroup(name), n: h.n}
}

func newBench(ctx context.Context, cfg config, log io.Writer) (_ *bench, err error) {
	b := &bench{cfg: cfg, log: log, started: time.Now(), loadAvg: loadAvg(), runID: randomHex(4), createRate: map[int]float64{}, orgs: map[string]bool{}}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.dir, err = os.MkdirTemp("", "invitebench-"); err != nil {
		return nil, err
	}
	b.prefix = cfg.redisPrefix
	if b.prefix == "" {
		b.prefix = "invitebench-" + b.runID + ":"
	}
	maxClients := slices.Max(cfg.clients)
	b.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * maxClients,
			MaxIdleConnsPerHost: 2 * maxClients,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	if b.trivial, err = startTrivialServer(); err != nil {
		return nil, err
	}
	if cfg.remote() {
		b.api = strings.TrimRight(cfg.url, "/") + "/api/v1"
		b.secret = []byte(cfg.jwtSecret)
		b.natsURL = cfg.natsURL
	} else {
		b.secret = []byte(randomHex(32)) // 64 bytes
		port, err := redisserver.FreePort()
		if err != nil {
			return nil, err
		}
		b.ns, b.natsCreds, err = startEmbedded(filepath.Join(b.dir, "jetstream"), "127.0.0.1:"+port, cfg.syncAlways)
		if err != nil {
			return nil, err
		}
		b.natsURL = b.ns.ClientURL()
	}
	if b.admin, err = b.mint("invitebench-admin", "admin@invitebench.example",
		map[string][]string{auth.AnyOrganization: {auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin}}); err != nil {
		return nil, err
	}
	if b.natsURL != "" {
		opts, err := b.natsCreds.Options()
		if err != nil {
			return nil, err
		}
		if b.nc, err = nats.Connect(b.natsURL, append(opts, nats.Name("invitebench"))...); err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w", b.natsURL, err)
		}
		if b.js, err = jetstream.New(b.nc); err != nil {
			return nil, err
		}
	}
	if cfg.store == "redis" && !cfg.remote() {
		if err := b.ensureRedis(); err != nil {
			return nil, err
		}
	}
	if !cfg.remote() && (cfg.runs("create") || cfg.runs("accept") || cfg.runs("lookup") || cfg.runs("list") || cfg.runs("memory")) {
		if err := b.startService(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// writeHistory fills the run's empty INVITATIONS stream with n events of
// other organizations, signed with a key made for the service, and returns
// that key's file for the service to sign and verify with.
func (b *bench) writeHistory(ctx context.Context, n int) (signingKey string, err error) {
	dir := filepath.Join(b.dir, "signing")
	signer, err := signing.LoadOrCreate(dir)
	if err != nil {
		return "", err
	}
	if err := eventstore.EnsureStream(ctx, b.js, 1); err != nil {
		return "", err
	}
	b.logf("  writing %d events of other organizations into the service's stream", n)
	rate, err := fillStream(ctx, b.nc, signer, n)
	if err != nil {
		return "", err
	}
	b.add("setup", fmt.Sprintf("the service's stream before the steps: %d events", n), valueMeasure("fill (js.PublishAsync)", rate, "events/s"), nil,
		"organizations of 500 invitations, each created with its email slot, every other one accepted; every step runs on this stream")
	return filepath.Join(dir, "signing.key"), nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// ensureRedis starts the private redis-server (or connects to --redis-url)
// the first time a step needs Redis.
func (b *bench) ensureRedis() error {
	if b.rdb != nil {
		return nil
	}
	b.redisURL = b.cfg.redisURL
	if b.redisURL == "" {
		r, err := startRedisServer(filepath.Join(b.dir, "redis"))
		if err != nil {
			return err
		}
		b.redis, b.redisURL = r, r.URL
	}
	opts, err := redis.ParseURL(b.redisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	b.rdb = redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connect to Redis at %s: %w", opts.Addr, err)
	}
	return nil
}

// startService starts the service in-process on the run's JetStream server,
// the way cmd/invitesvc does, behind the same server (service.NewHTTPServer).
func (b *bench) startService(ctx context.Context) error {
	cfg := service.Config{
		NATSURL: b.natsURL, NATSNKeyFile: b.natsCreds.NKeyFile, DataDir: filepath.Join(b.dir, "service"), Replicas: 1,
		RedisPrefix: b.prefix + "svc:", JWTSecret: string(b.secret),
		// The limits guard against abuse; a benchmark is the abuse they guard against.
		FailuresPerMinute: 1e9, FailureBurst: 1 << 30, InvitationsPerHour: 1 << 30,
		// The access log is formatted at info, as in production, and dropped;
		// warnings and errors are shown with the progress.
		Logger: slog.New(slog.NewMultiHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}),
			countingHandler{Handler: slog.NewJSONHandler(b.log, &slog.HandlerOptions{Level: slog.LevelWarn}), n: &b.serviceWarnings})),
	}
	if b.cfg.store == "redis" {
		cfg.RedisURL = b.redisURL
	}
	startLimit := 2 * time.Minute
	if n := b.cfg.writeHistory; n > 0 {
		var err error
		if cfg.SigningKey, err = b.writeHistory(ctx, n); err != nil {
			return err
		}
		// The service projects the history before it answers ready: at a
		// few thousand events a second, verified one by one.
		startLimit += time.Duration(n/2000) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, startLimit)
	defer cancel()
	started := time.Now()
	svc, err := service.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start the service: %w", err)
	}
	b.svc = svc
	if b.cfg.writeHistory > 0 {
		b.logf("  the service started on %d events in %s", b.cfg.writeHistory, time.Since(started).Round(time.Second))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.srv = service.NewHTTPServer(svc.Handler)
	go func() { _ = b.srv.Serve(l) }()
	b.api = "http://" + l.Addr().String() + "/api/v1"
	if b.js == nil {
		return errors.New("no JetStream connection")
	}
	return nil
}

func (b *bench) close() {
	if b.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.srv.Shutdown(ctx)
		cancel()
	}
	if b.trivial != nil {
		b.trivial.close()
	}
	if b.svc != nil {
		b.svc.Close()
	}
	if b.js != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = b.js.DeleteStream(ctx, baselineStream)
		cancel()
	}
	if b.nc != nil {
		b.nc.Close()
	}
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
	if b.rdb != nil {
		if b.redis == nil { // a shared Redis: take this run's keys away
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if n, err := deleteKeys(ctx, b.rdb, b.prefix); err != nil {
				b.logf("could not delete this run's Redis keys (%d deleted): %v", n, err)
			}
			cancel()
		}
		_ = b.rdb.Close()
	}
	if b.redis != nil {
		b.redis.Stop()
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// mint signs a token with the service's secret.
func (b *bench) mint(sub, email string, perms map[string][]string) (string, error) {
	return auth.Mint(b.secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, Email: email, OrgPermissions: perms}, 6*time.Hour)
}

// call sends one request and checks the status; it returns the body when
// keep is set and drains it otherwise.
func (b *bench) call(ctx context.Context, method, url, token string, body []byte, want int, keep bool) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != want || keep {
		data, err := io.ReadAll(res.Body)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != want {
			return nil, fmt.Errorf("%s %s: status %d, want %d: %.300s", method, redactToken(url), res.StatusCode, want, data)
		}
		return data, nil
	}
	_, err = io.Copy(io.Discard, res.Body)
	return nil, err
}

// redactToken hides an invitation token in a URL before it is shown.
func redactToken(url string) string {
	if i := strings.Index(url, "/organizations/invitations/"); i >= 0 {
		return url[:i] + "/organizations/invitations/***"
	}
	return url
}

// register makes organization org (once).
func (b *bench) register(ctx context.Context, org string) error {
	if b.orgs[org] {
		return nil
	}
	body, _ := json.Marshal(map[string]string{"name": "Bench " + org})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.api+"/organizations/"+org, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.admin)
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		return fmt.Errorf("register %s: status %d: %.300s", org, res.StatusCode, data)
	}
	b.orgs[org] = true
	return nil
}

// invitation is one invitation made for a step, with what accepting it needs.
type invitation struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Token string `json:"token"`
}

// invite creates n invitations in org, up to 100 a request from a few
// clients at once, and returns them with their tokens.
func (b *bench) invite(ctx context.Context, org string, n int, tag string) ([]invitation, error) {
	if err := b.register(ctx, org); err != nil {
		return nil, err
	}
	const perRequest, clients = 100, 4
	requests := (n + perRequest - 1) / perRequest
	out := make([][]invitation, requests)
	errs := make([]error, requests)
	next := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range next {
				count := min(perRequest, n-i*perRequest)
				emails := make([]string, count)
				for j := range emails {
					emails[j] = fmt.Sprintf("%s-%d@invitebench.example", tag, i*perRequest+j)
				}
				body, _ := json.Marshal(map[string]any{"emails": emails})
				data, err := b.call(ctx, http.MethodPost, b.api+"/organizations/"+org+"/invitations", b.admin, body, http.StatusCreated, true)
				if err != nil {
					errs[i] = err
					continue
				}
				var res struct {
					Invitations []invitation `json:"invitations"`
				}
				if err := json.Unmarshal(data, &res); err != nil {
					errs[i] = err
					continue
				}
				out[i] = res.Invitations
			}
		})
	}
	for i := range requests {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return slices.Concat(out...), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// trivialServer answers every request with fixed bytes: the limit of the
// HTTP layer (net/http server and client, loopback), with nothing computed.
type trivialServer struct {
	srv  *service.HTTPServer
	url  string
	mu   sync.RWMutex
	body []byte
}

func startTrivialServer() (*trivialServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &trivialServer{url: "http://" + l.Addr().String(), body: []byte(`{"ok":true}` + "\n")}
	t.srv = service.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.mu.RLock()
		body := t.body
		t.mu.RUnlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}))
	go func() { _ = t.srv.Serve(l) }()
	return t, nil
}

// answer makes the server answer body from now on.
func (t *trivialServer) answer(body []byte) {
	t.mu.Lock()
	t.body = body
	t.mu.Unlock()
}

func (t *trivialServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.srv.Shutdown(ctx)
}
