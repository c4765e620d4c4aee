package service_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

func TestMainFlow(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		r := s.do("PUT", api+"/acme", s.admin, map[string]any{"name": "  Acme Corp "})
		expect(t, r, http.StatusCreated)
		if r.str("name") != "Acme Corp" || r.str("id") != "acme" {
			t.Fatalf("registered %v", r.body)
		}
		expect(t, s.do("PUT", api+"/acme", s.admin, map[string]any{"name": "Acme Inc"}), http.StatusOK)
		if got := s.do("GET", api+"/acme", s.admin, nil); got.str("name") != "Acme Inc" {
			t.Fatalf("renamed organization reads %v", got.body)
		}

		invs := s.invite("Ada@Example.com", "bob@example.com")
		ada, bob := invs[0], invs[1]
		if ada["email"] != "ada@example.com" || ada["status"] != "pending" || len(ada["token"].(string)) != 43 || ada["version"] != 1.0 {
			t.Fatalf("created %v", ada)
		}
		if ada["organization"].(map[string]any)["name"] != "Acme Inc" {
			t.Fatalf("organization ref %v", ada["organization"])
		}
		token := ada["token"].(string)

		// Anyone with the token can look it up; no one can list it without rights.
		lookup := s.do("GET", api+"/invitations/"+token, "", nil)
		expect(t, lookup, http.StatusOK)
		if lookup.str("id") != ada["id"] || lookup.str("token") != token {
			t.Fatalf("lookup %v", lookup.body)
		}
		got := s.do("GET", api+"/acme/invitations/"+ada["id"].(string), s.admin, nil)
		if _, leaked := got.body["token"]; leaked || got.str("status") != "pending" {
			t.Fatalf("get shows %v", got.body)
		}

		accept := s.do("POST", api+"/invitations/"+token+"/_accept", s.invitee("user-42", "ADA@example.com"), nil)
		expect(t, accept, http.StatusOK)
		m := accept.body["membership"].(map[string]any)
		if m["user_id"] != "user-42" || m["role"] != "member" || m["invitation_id"] != ada["id"] {
			t.Fatalf("membership %v", m)
		}
		// Accepting again as the same user answers the same and writes nothing.
		again := s.do("POST", api+"/acme/invitations/"+ada["id"].(string)+"/accept", s.invitee("user-42", "ada@example.com"), nil)
		expect(t, again, http.StatusOK)
		if again.body["membership"].(map[string]any)["joined_at"] != m["joined_at"] {
			t.Fatalf("second accept answered %v", again.body)
		}
		after := s.do("GET", api+"/invitations/"+token, "", nil)
		if after.str("status") != "accepted" || after.str("accepted_by") != "user-42" || after.body["version"] != 2.0 {
			t.Fatalf("accepted invitation reads %v", after.body)
		}

		members := s.do("GET", api+"/acme/members", s.admin, nil)
		if ms := members.list("members"); len(ms) != 1 || ms[0]["user_id"] != "user-42" || ms[0]["email"] != "ada@example.com" {
			t.Fatalf("members %v", members.body)
		}
		pending := s.do("GET", api+"/acme/invitations", s.admin, nil)
		if ids := ids(pending.list("invitations")); !slices.Equal(ids, []string{bob["id"].(string)}) {
			t.Fatalf("pending list %v", ids)
		}
		accepted := s.do("GET", api+"/acme/invitations?status=accepted", s.admin, nil)
		if ids := ids(accepted.list("invitations")); !slices.Equal(ids, []string{ada["id"].(string)}) {
			t.Fatalf("accepted list %v", ids)
		}

		// Resend kills the old token; cancel kills the new one.
		resent := s.do("POST", api+"/acme/invitations/"+bob["id"].(string)+"/resend", s.admin, map[string]any{"expires_in": "36h"})
		expect(t, resent, http.StatusOK)
		if resent.str("token") == bob["token"] || len(resent.str("token")) != 43 {
			t.Fatalf("resend kept the token")
		}
		expect(t, s.do("GET", api+"/invitations/"+bob["token"].(string), "", nil), http.StatusNotFound, "organization.invitation_not_found")
		expect(t, s.do("GET", api+"/invitations/"+resent.str("token"), "", nil), http.StatusOK)
		expect(t, s.do("DELETE", api+"/acme/invitations/"+bob["id"].(string), s.admin, nil), http.StatusNoContent)
		expect(t, s.do("DELETE", api+"/acme/invitations/"+bob["id"].(string), s.admin, nil), http.StatusNoContent)
		expect(t, s.do("GET", api+"/invitations/"+resent.str("token"), "", nil), http.StatusNotFound, "organization.invitation_not_found")
		cancelled := s.do("GET", api+"/acme/invitations?status=cancelled", s.admin, nil)
		if ids := ids(cancelled.list("invitations")); !slices.Equal(ids, []string{bob["id"].(string)}) {
			t.Fatalf("cancelled list %v", ids)
		}

		history := s.do("GET", api+"/acme/invitations/"+bob["id"].(string)+"/events", s.admin, nil)
		var types []string
		for _, e := range history.list("events") {
			types = append(types, e["type"].(string))
			if e["actor"] != "admin-1" || e["sequence"].(float64) < 1 {
				t.Errorf("event %v", e)
			}
		}
		if !slices.Equal(types, []string{"invitation.created", "invitation.resent", "invitation.cancelled"}) {
			t.Fatalf("history %v", types)
		}

		// A removed member may be invited again.
		expect(t, s.do("DELETE", api+"/acme/members/user-42", s.admin, nil), http.StatusNoContent)
		expect(t, s.do("DELETE", api+"/acme/members/user-42", s.admin, nil), http.StatusNotFound, "organization.member_not_found")
		if ms := s.do("GET", api+"/acme/members", s.admin, nil).list("members"); len(ms) != 0 {
			t.Fatalf("members after removal %v", ms)
		}
		s.invite("ada@example.com")
	})
}

func ids(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it["id"].(string)
	}
	return out
}

func TestExpiry(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		r := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"ada@example.com"}, "expires_in": "2h"})
		expect(t, r, http.StatusCreated)
		inv := r.list("invitations")[0]
		s.advance(3 * time.Hour)
		lookup := s.do("GET", api+"/invitations/"+inv["token"].(string), "", nil)
		if lookup.str("status") != "expired" || lookup.body["expired"] != true {
			t.Fatalf("expired invitation reads %v", lookup.body)
		}
		expect(t, s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", s.invitee("u", "ada@example.com"), nil), http.StatusGone, "organization.invitation_expired")
		if got := ids(s.do("GET", api+"/acme/invitations?status=expired", s.admin, nil).list("invitations")); !slices.Equal(got, []string{inv["id"].(string)}) {
			t.Fatalf("expired list %v", got)
		}
		if got := s.do("GET", api+"/acme/invitations", s.admin, nil).list("invitations"); len(got) != 0 {
			t.Fatalf("pending list holds an expired invitation: %v", got)
		}
		// An expired invitation no longer blocks a new one, and may be resent.
		again := s.invite("ada@example.com")
		expect(t, s.do("POST", api+"/acme/invitations/"+inv["id"].(string)+"/resend", s.admin, nil), http.StatusConflict, "organization.invitation_already_exists")
		expect(t, s.do("DELETE", api+"/acme/invitations/"+again[0]["id"].(string), s.admin, nil), http.StatusNoContent)
		resent := s.do("POST", api+"/acme/invitations/"+inv["id"].(string)+"/resend", s.admin, nil)
		expect(t, resent, http.StatusOK)
		if resent.str("status") != "pending" {
			t.Fatalf("resent invitation is %s", resent.str("status"))
		}
		expect(t, s.do("POST", api+"/invitations/"+resent.str("token")+"/_accept", s.invitee("u", "ada@example.com"), nil), http.StatusOK)
	})
}

func TestIdempotencyKey(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		body := map[string]any{"emails": []string{"ada@example.com", "bob@example.com"}}
		first := s.do("POST", api+"/acme/invitations", s.admin, body, "Idempotency-Key", "key-1")
		expect(t, first, http.StatusCreated)
		repeat := s.do("POST", api+"/acme/invitations", s.admin, body, "Idempotency-Key", "key-1")
		expect(t, repeat, http.StatusCreated)
		if repeat.header.Get("Idempotent-Replayed") != "true" || !slices.Equal(ids(repeat.list("invitations")), ids(first.list("invitations"))) {
			t.Fatalf("replay answered %v", repeat.raw)
		}
		for _, inv := range repeat.list("invitations") {
			if _, ok := inv["token"]; ok {
				t.Fatalf("replay shows a token")
			}
		}
		if n := len(s.do("GET", api+"/acme/invitations", s.admin, nil).list("invitations")); n != 2 {
			t.Fatalf("%d invitations after a replay, want 2", n)
		}
		other := map[string]any{"emails": []string{"carol@example.com"}}
		expect(t, s.do("POST", api+"/acme/invitations", s.admin, other, "Idempotency-Key", "key-1"), http.StatusUnprocessableEntity, "root.idempotency_key_reused")
		expect(t, s.do("POST", api+"/acme/invitations", s.admin, other, "Idempotency-Key", strings.Repeat("k", 256)), http.StatusBadRequest, "root.invalid_parameter")
		// The key is kept 24 hours.
		s.advance(25 * time.Hour)
		expect(t, s.do("POST", api+"/acme/invitations", s.admin, other, "Idempotency-Key", "key-1"), http.StatusCreated)
	})
}

func TestMetricsAndHealth(t *testing.T) {
	s := startStack(t, "")
	s.register("acme")
	expect(t, s.do("GET", api+"/invitations/"+strings.Repeat("x", 43), "", nil), http.StatusNotFound)
	res, err := http.Get(s.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`invitesvc_http_requests_total{method="PUT",route="/api/v1/organizations/{organization_id}",status_class="2xx"} 1`,
		`invitesvc_http_requests_total{method="GET",route="/api/v1/organizations/invitations/{invitation_token}",status_class="4xx"} 1`,
		`invitesvc_projection_checkpoint{projection="read-models"} 1`,
		`invitesvc_projection_lag_events{projection="read-models"} 0`,
		`invitesvc_commands_total{command="register_organization",outcome="written"} 1`,
		`invitesvc_eventstore_batch_appends_bucket{le="1"} 1`,
		"invitesvc_projection_redeliveries_total",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(body), strings.Repeat("x", 43)) {
		t.Error("a token reached the metrics")
	}
	if s.readyz() != http.StatusOK {
		t.Error("not ready")
	}
}

// TestTokensNeverAtRest looks for raw tokens in the stream's files and in
// every Redis value after a flow that created, resent and accepted.
func TestTokensNeverAtRest(t *testing.T) {
	url := testkit.Redis(t)
	var logs testkit.Buffer
	s := startStack(t, url, func(c *service.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	s.register("acme")
	invs := s.invite("ada@example.com", "bob@example.com")
	resent := s.do("POST", api+"/acme/invitations/"+invs[1]["id"].(string)+"/resend", s.admin, nil)
	expect(t, s.do("POST", api+"/invitations/"+invs[0]["token"].(string)+"/_accept", s.invitee("u", "ada@example.com"), nil), http.StatusOK)
	tokens := []string{invs[0]["token"].(string), invs[1]["token"].(string), resent.str("token")}
	// Failed look-ups and accepts log too.
	expect(t, s.do("GET", api+"/invitations/"+invs[1]["token"].(string), "", nil), http.StatusNotFound)
	expect(t, s.do("POST", api+"/invitations/"+resent.str("token")+"/_accept", s.invitee("eve", "eve@example.com"), nil), http.StatusForbidden)
	if !strings.Contains(logs.String(), `"route":"/api/v1/organizations/invitations/{invitation_token}"`) {
		t.Fatalf("requests were not logged: %s", logs.String())
	}
	for _, tok := range tokens {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("a raw token is in the logs")
		}
	}

	var files int
	err := filepath.WalkDir(s.cfg.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a temporary file the server renamed meanwhile
		}
		files++
		for _, tok := range tokens {
			if strings.Contains(string(raw), tok) {
				t.Errorf("a raw token is in %s", path)
			}
		}
		return err
	})
	if err != nil || files == 0 {
		t.Fatalf("walked %d files: %v", files, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(url, "redis://")})
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, s.cfg.RedisPrefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("%d keys: %v", len(keys), err)
	}
	for _, key := range keys {
		// Values are read as such: DUMP would compress them.
		var values []string
		switch rdb.Type(ctx, key).Val() {
		case "string":
			values = []string{rdb.Get(ctx, key).Val()}
		case "hash":
			for f, v := range rdb.HGetAll(ctx, key).Val() {
				values = append(values, f, v)
			}
		case "zset":
			values = rdb.ZRange(ctx, key, 0, -1).Val()
		default:
			t.Errorf("unexpected type of %s", key)
		}
		for _, tok := range tokens {
			if strings.Contains(key+strings.Join(values, " "), tok) {
				t.Errorf("a raw token is in Redis key %s", key)
			}
		}
	}
}

// TestExpiryEventWrittenOnceByEveryReplica runs two replicas on one NATS
// and one Redis: both try to record the expiry, exactly one event is written.
func TestExpiryEventWrittenOnceByEveryReplica(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	redisURL := testkit.Redis(t)
	key := testkit.KeyFile(t) // replicas sign with one key
	kek := testkit.KEKFile(t) // and one key-encryption key
	shared := func(c *service.Config) {
		c.NATSURL = ns.ClientURL()
		c.RedisPrefix = "expiry:"
		c.SigningKey, c.KEKFile = key, kek
	}
	a := startStack(t, redisURL, shared)
	b := startStack(t, redisURL, shared)
	a.register("acme")
	r := a.do("POST", api+"/acme/invitations", a.admin, map[string]any{"emails": []string{"ada@example.com"}, "expires_in": "1h"})
	expect(t, r, http.StatusCreated)
	id := r.list("invitations")[0]["id"].(string)
	a.advance(time.Hour + time.Second)
	b.advance(time.Hour + time.Second)
	eventually(t, 10*time.Second, "invitation.expired recorded", func() bool { return a.eventTypes(id)["invitation.expired"] == 1 })
	time.Sleep(time.Second) // both replicas have had their chance by now
	if got := b.eventTypes(id); got["invitation.expired"] != 1 {
		t.Fatalf("events %v, want exactly one invitation.expired", got)
	}
	inv := b.do("GET", api+"/acme/invitations/"+id, b.admin, nil)
	if inv.str("status") != "expired" || inv.body["version"] != 2.0 {
		t.Fatalf("invitation after expiry: %v", inv.raw)
	}
}
