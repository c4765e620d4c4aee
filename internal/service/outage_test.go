package service_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

func startNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	return startNATSWith(t, natsOptions(dir, port))
}

// natsOptions are a test's own nats-server on loopback, without users.
func natsOptions(dir string, port int) *server.Options {
	return &server.Options{JetStream: true, StoreDir: dir, Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}
}

func startNATSWith(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	testkit.NeedsServers(t)
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// eventually retries fn until it reports true, for at most limit.
func eventually(t *testing.T, limit time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNATSOutage(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		dir := t.TempDir()
		ns := startNATS(t, dir, -1)
		addr, port := ns.ClientURL(), ns.Addr().(*net.TCPAddr).Port
		s := newStack(func(c *service.Config) { c.NATSURL = addr })
		s.register("acme")
		inv := s.invite("ada@example.com")[0]

		ns.Shutdown()
		ns.WaitForShutdown()
		start := time.Now()
		r := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"bob@example.com"}})
		expect(t, r, http.StatusServiceUnavailable, "root.unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		t.Logf("503 after %s", time.Since(start))
		expect(t, s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", s.invitee("u", "ada@example.com"), nil), http.StatusServiceUnavailable, "root.unavailable")
		// Queries read the read store only, and keep answering.
		expect(t, s.do("GET", api+"/invitations/"+inv["token"].(string), "", nil), http.StatusOK)
		if status := s.readyz(); status != http.StatusServiceUnavailable {
			t.Errorf("readyz %d while NATS is down", status)
		}

		// NATS comes back on the same address: the service recovers by itself.
		startNATS(t, dir, port)
		eventually(t, 15*time.Second, "commands succeed again", func() bool {
			return s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"bob@example.com"}}).status == http.StatusCreated
		})
		// Nothing from the failed attempts was written: one invitation for bob.
		if n := len(s.do("GET", api+"/acme/invitations?status=all", s.admin, nil).list("invitations")); n != 2 {
			t.Fatalf("%d invitations, want 2", n)
		}
		expect(t, s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", s.invitee("u", "ada@example.com"), nil), http.StatusOK)
		// Readiness follows within the write probe's period.
		eventually(t, 5*time.Second, "ready after NATS came back", func() bool { return s.readyz() == http.StatusOK })
	})
}

func (s *stack) readyz() int { status, _ := s.get("/readyz"); return status }

func (s *stack) readyzBody() string { _, body := s.get("/readyz"); return body }

func (s *stack) metrics() string { _, body := s.get("/metrics"); return body }

// get answers a plain GET outside the API: its status and body.
func (s *stack) get(path string) (int, string) {
	res, err := http.Get(s.http.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestRedisOutageAndFlush(t *testing.T) {
	url, stop := testkit.StartRedisServer(t)
	s := startStack(t, url)
	s.register("acme")
	invs := s.invite("ada@example.com", "bob@example.com")
	expect(t, s.do("POST", api+"/invitations/"+invs[0]["token"].(string)+"/_accept", s.invitee("user-ada", "ada@example.com"), nil), http.StatusOK)

	stop()
	r := s.do("GET", api+"/acme/invitations", s.admin, nil)
	expect(t, r, http.StatusServiceUnavailable, "root.unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	expect(t, s.do("GET", api+"/invitations/"+invs[1]["token"].(string), "", nil), http.StatusServiceUnavailable, "root.unavailable")
	expect(t, s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"carol@example.com"}}), http.StatusServiceUnavailable, "root.unavailable")
	if status := s.readyz(); status != http.StatusServiceUnavailable {
		t.Errorf("readyz %d while Redis is down", status)
	}

	// Redis comes back empty at the same address: the read models are rebuilt
	// from the stream by themselves, and the refused create left nothing.
	testkit.StartRedisServerOnPort(t, strings.TrimPrefix(url, "redis://127.0.0.1:"))
	eventually(t, 15*time.Second, "read models rebuilt", func() bool {
		r := s.do("GET", api+"/acme/members", s.admin, nil)
		return r.status == http.StatusOK && len(r.list("members")) == 1
	})
	if got := ids(s.do("GET", api+"/acme/invitations?status=all", s.admin, nil).list("invitations")); len(got) != 2 {
		t.Fatalf("invitations after rebuild %v, want 2", got)
	}
	expect(t, s.do("GET", api+"/invitations/"+invs[1]["token"].(string), "", nil), http.StatusOK)
	s.invite("carol@example.com")

	// Flushed behind the service's back: rebuilt as well.
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(url, "redis://")})
	defer rdb.Close()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "read models rebuilt after a flush", func() bool {
		r := s.do("GET", api+"/acme/invitations?status=all", s.admin, nil)
		return r.status == http.StatusOK && len(r.list("invitations")) == 3
	})
}

// TestRedisFlushedDuringLoad flushes Redis while invitations are being
// created and looked up: commands keep their guarantees, queries answer 503
// or right (never a 404 for a token acknowledged before), and once rebuilt
// the read models equal a fresh replay of the stream.
func TestRedisFlushedDuringLoad(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	url := testkit.Redis(t)
	key := testkit.KeyFile(t) // the fresh replay below verifies with the same key
	kek := testkit.KEKFile(t) // and one key-encryption key
	s := startStack(t, url, func(c *service.Config) {
		c.NATSURL = ns.ClientURL()
		c.RedisPrefix = "flush:"
		c.SigningKey, c.KEKFile = key, kek
	})
	s.register("acme")

	var mu sync.Mutex
	var tokens []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := s.doQuiet("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{fmt.Sprintf("w%d-%d@example.com", w, i)}})
				if r.status == http.StatusCreated {
					mu.Lock()
					tokens = append(tokens, r.list("invitations")[0]["token"].(string))
					mu.Unlock()
				} else if r.status != http.StatusServiceUnavailable {
					t.Errorf("create answered %d", r.status)
				}
			}
		})
	}
	var wrong, unavailable, right atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			known := slices.Clone(tokens)
			mu.Unlock()
			for _, tok := range known[max(0, len(known)-20):] {
				switch s.doQuiet("GET", api+"/invitations/"+tok, "", nil).status {
				case http.StatusOK:
					right.Add(1)
				case http.StatusServiceUnavailable:
					unavailable.Add(1)
				default:
					wrong.Add(1)
				}
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(url, "redis://")})
	defer rdb.Close()
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("look-ups: %d right, %d unavailable, %d wrong; %d creates acknowledged", right.Load(), unavailable.Load(), wrong.Load(), len(tokens))
	if wrong.Load() != 0 {
		t.Fatalf("%d look-ups of acknowledged tokens answered wrong", wrong.Load())
	}

	// Rebuilt, the Redis read models equal a fresh replay into memory.
	fresh := startStack(t, "", func(c *service.Config) { c.NATSURL = ns.ClientURL(); c.SigningKey, c.KEKFile = key, kek })
	eventually(t, 15*time.Second, "every acknowledged token answers", func() bool {
		for _, tok := range tokens {
			if s.doQuiet("GET", api+"/invitations/"+tok, "", nil).status != http.StatusOK {
				return false
			}
		}
		return true
	})
	a := ids(s.do("GET", api+"/acme/invitations?status=all&limit=100", s.admin, nil).list("invitations"))
	b := ids(fresh.do("GET", api+"/acme/invitations?status=all&limit=100", fresh.admin, nil).list("invitations"))
	if !slices.Equal(a, b) || len(a) == 0 {
		t.Fatalf("after the rebuild Redis lists %d invitations, a fresh replay %d", len(a), len(b))
	}
}
