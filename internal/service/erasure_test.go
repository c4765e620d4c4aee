package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// filesUnder is every byte of the files under dir; a file that goes away
// while it is read (a server's temporary file) is skipped.
func filesUnder(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		all = append(all, data...)
		return err
	})
	if err != nil || len(all) == 0 {
		t.Fatalf("read %d bytes under %s: %v", len(all), dir, err)
	}
	return all
}

// redisDump is every value Redis holds under prefix and its snapshot file,
// uncompressed so that a stored address would show.
func redisDump(t *testing.T, url, prefix string) []byte {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	var all []byte
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("%d keys: %v", len(keys), err)
	}
	for _, key := range keys {
		all = append(all, key...)
		var v any
		switch rdb.Type(ctx, key).Val() {
		case "string":
			v = rdb.Get(ctx, key).Val()
		case "hash":
			v = rdb.HGetAll(ctx, key).Val()
		case "zset":
			v = rdb.ZRangeWithScores(ctx, key, 0, -1).Val()
		case "set":
			v = rdb.SMembers(ctx, key).Val()
		default:
			t.Fatalf("key %s of type %s", key, rdb.Type(ctx, key).Val())
		}
		b, _ := json.Marshal(v)
		all = append(all, b...)
	}
	if err := rdb.ConfigSet(ctx, "rdbcompression", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	dir := rdb.ConfigGet(ctx, "dir").Val()["dir"]
	dump, err := os.ReadFile(filepath.Join(dir, rdb.ConfigGet(ctx, "dbfilename").Val()["dbfilename"]))
	if err != nil {
		t.Fatal(err)
	}
	return append(all, dump...)
}

// wantNoAddress fails if where holds the address in any case, or its
// plain SHA-256 (which would confirm a guess).
func wantNoAddress(t *testing.T, where string, data []byte, address string) {
	t.Helper()
	lower := bytes.ToLower(data)
	for _, trace := range []string{strings.ToLower(address), domain.SHA256(address), strings.SplitN(strings.ToLower(address), "@", 2)[0]} {
		if bytes.Contains(lower, []byte(trace)) {
			t.Errorf("%s holds %q", where, trace)
		}
	}
}

// After an address is invited, accepted and erased, it is in none of the
// stream's files, the key bucket's, Redis, the logs or any answer, and no
// keyed identifier is its SHA-256; a replay and a restart bring back no
// trace; another address, and another organization, keep theirs.
func TestErasureLeavesNoTrace(t *testing.T) {
	redisURL, _ := testkit.StartRedisServer(t)
	var logs testkit.Buffer
	s := startStack(t, redisURL, func(c *service.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const address = "ada.lovelace@example.com"
	var answers bytes.Buffer
	do := func(method, path, token string, body any, status int) response {
		t.Helper()
		r := s.do(method, path, token, body)
		expect(t, r, status)
		b, _ := json.Marshal(r.body)
		answers.Write(b)
		return r
	}
	s.register("acme")
	s.register("globex")
	globexAdmin := s.token("admin-globex", "", map[string][]string{"globex": {auth.PermOrgAdmin, auth.PermOrgUserInvite, auth.PermOrgRead, auth.PermOrgUserRead}})
	invs := do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"Ada.Lovelace@Example.com", "bob@example.com"}}, http.StatusCreated).list("invitations")
	ada, bob := invs[0], invs[1]
	do("POST", api+"/globex/invitations", globexAdmin, map[string]any{"emails": []string{"carol@example.com"}}, http.StatusCreated)
	do("POST", api+"/invitations/"+ada["token"].(string)+"/_accept", s.invitee("user-ada", "ADA.LOVELACE@example.com"), nil, http.StatusOK)
	// A second invitation of the address, after the member was removed: pending at the erasure.
	expect(t, s.do("DELETE", api+"/acme/members/user-ada", s.admin, nil), http.StatusNoContent)
	again := do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{address}}, http.StatusCreated).list("invitations")[0]

	answers.Reset() // the answers before the erasure hold the address, as they should
	erased := do("POST", api+"/acme/erasures", s.admin, map[string]any{"email": "ADA.lovelace@example.COM"}, http.StatusOK)
	if got := erased.body["invitations_cancelled"]; !jsonEqual(got, []any{again["id"]}) || erased.body["member_removed"] != nil ||
		erased.body["key_deleted"] != true || erased.str("erased_at") == "" {
		t.Fatalf("erasure answered %v", erased.body)
	}
	second := do("POST", api+"/acme/erasures", s.admin, map[string]any{"email": address}, http.StatusOK)
	if !jsonEqual(second.body, map[string]any{"invitations_cancelled": []any{}, "member_removed": nil, "key_deleted": false, "erased_at": nil}) {
		t.Fatalf("second erasure answered %v; want nothing done", second.body)
	}

	reads := func() {
		t.Helper()
		for _, id := range []string{ada["id"].(string), again["id"].(string)} {
			inv := do("GET", api+"/acme/invitations/"+id, s.admin, nil, http.StatusOK)
			if v, ok := inv.body["email"]; !ok || v != nil || inv.body["email_erased"] != true {
				t.Fatalf("invitation %s after the erasure: %v", id, inv.body)
			}
		}
		if inv := do("GET", api+"/acme/invitations/"+bob["id"].(string), s.admin, nil, http.StatusOK); inv.str("email") != "bob@example.com" {
			t.Fatalf("another address lost: %v", inv.body)
		}
		if l := do("GET", api+"/globex/invitations?status=all", globexAdmin, nil, http.StatusOK).list("invitations"); len(l) != 1 || l[0]["email"] != "carol@example.com" {
			t.Fatalf("another organization's invitations: %v", l)
		}
		list := do("GET", api+"/acme/invitations?status=all", s.admin, nil, http.StatusOK).list("invitations")
		do("GET", api+"/acme/members", s.admin, nil, http.StatusOK)
		do("GET", api+"/invitations/"+ada["token"].(string), "", nil, http.StatusOK)
		feed := do("GET", api+"/acme/events?limit=100", s.admin, nil, http.StatusOK)
		do("GET", api+"/acme/invitations/"+ada["id"].(string)+"/events", s.admin, nil, http.StatusOK)
		if len(list) != 3 || !strings.Contains(answers.String(), `"email":"[erased]"`) || len(feed.list("events")) == 0 {
			t.Fatalf("lists after the erasure: %d invitations, feed %v", len(list), feed.body)
		}
	}
	reads()
	wantNoAddress(t, "an answer", answers.Bytes(), address)

	// Every store on disk, the service stopped (its files flushed).
	s.stop()
	files := filesUnder(t, s.cfg.DataDir)
	wantNoAddress(t, "the stream's and the key bucket's files", files, address)
	if !bytes.Contains(files, []byte("email_hmac")) || !bytes.Contains(files, []byte("KV_INVITESVC_KEYS")) {
		t.Fatal("the files hold no keyed identifier, or no key bucket: the test looks in the wrong place")
	}
	wantNoAddress(t, "Redis", redisDump(t, redisURL, s.cfg.RedisPrefix), address)
	if !bytes.Contains(redisDump(t, redisURL, s.cfg.RedisPrefix), []byte("bob@example.com")) {
		t.Fatal("Redis holds no address at all: the test looks in the wrong place")
	}

	// A replay from the stream into memory, and a restart on Redis.
	s.cfg.RedisURL = ""
	s.start()
	answers.Reset()
	reads()
	wantNoAddress(t, "an answer after a replay", answers.Bytes(), address)
	s.stop()
	s.cfg.RedisURL = redisURL
	s.start()
	reads()
	s.stop()
	wantNoAddress(t, "the logs", []byte(logs.String()), address)
	if !strings.Contains(logs.String(), "/erasures") {
		t.Fatal("the requests were not logged: the test looks in the wrong place")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestErasureRefusals(t *testing.T) {
	s := startStack(t, "")
	s.register("acme")
	viewer := s.token("viewer", "", map[string][]string{"acme": {auth.PermOrgRead, auth.PermOrgUserInvite}})
	expect(t, s.do("POST", api+"/acme/erasures", viewer, map[string]any{"email": "ada@example.com"}), http.StatusForbidden, "root.forbidden")
	expect(t, s.do("POST", api+"/acme/erasures", s.admin, map[string]any{"email": "not an address"}), http.StatusBadRequest, "root.invalid_parameter")
	expect(t, s.do("POST", api+"/acme/erasures", s.admin, map[string]any{}), http.StatusBadRequest, "root.invalid_parameter")
	expect(t, s.do("POST", api+"/acme/erasures", s.admin, map[string]any{"email": "ada@example.com", "extra": 1}), http.StatusBadRequest)
	globex := s.token("admin-globex", "", map[string][]string{"globex": {auth.PermOrgAdmin}})
	expect(t, s.do("POST", api+"/globex/erasures", globex, map[string]any{"email": "ada@example.com"}), http.StatusNotFound, "organization.not_found")
}

// A bucket whose keys another key-encryption key wraps is refused at start,
// with an error that says so; the KEK rotated with the previous one given
// starts, rewraps every key, and then starts alone.
func TestKeyEncryptionKeyAtStart(t *testing.T) {
	first := testkit.KEKFile(t)
	s := startStack(t, "", func(c *service.Config) { c.KEKFile = first })
	s.register("acme")
	inv := s.invite("ada@example.com")[0]
	s.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lost := s.cfg
	lost.KEKFile = testkit.KEKFile(t)
	if svc, err := service.Start(ctx, lost); err == nil || !strings.Contains(err.Error(), "key-encryption key") || !strings.Contains(err.Error(), "not configured") {
		if svc != nil {
			svc.Close()
		}
		t.Fatalf("start with another KEK: %v; want a refusal naming the key-encryption key", err)
	}

	next := testkit.KEKFile(t)
	s.cfg.KEKFile, s.cfg.PreviousKEKFiles = next, []string{first}
	s.start()
	if got := s.do("GET", api+"/acme/invitations/"+inv["id"].(string), s.admin, nil); got.str("email") != "ada@example.com" {
		t.Fatalf("during the rotation: %v", got.body)
	}
	// The rewrap runs in the background: the new KEK alone starts once it is done.
	s.stop()
	s.cfg.PreviousKEKFiles = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		svc, err := service.Start(ctx, s.cfg)
		if err == nil {
			svc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new KEK alone after the rewrap: %v", err)
		}
		s.cfg.PreviousKEKFiles = []string{first}
		s.start()
		time.Sleep(200 * time.Millisecond)
		s.stop()
		s.cfg.PreviousKEKFiles = nil
	}
	s.start()
	if got := s.do("GET", api+"/acme/invitations/"+inv["id"].(string), s.admin, nil); got.str("email") != "ada@example.com" {
		t.Fatalf("after the rotation: %v", got.body)
	}
	old := s.cfg
	old.KEKFile = first
	s.stop()
	if svc, err := service.Start(ctx, old); err == nil {
		svc.Close()
		t.Fatal("the rotated-out KEK alone started")
	}
}
