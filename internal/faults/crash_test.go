package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

var long = flag.Bool("faults.long", false, "run the long variants of the fault suite")

const api = "/api/v1/organizations"

var admin = map[string][]string{"acme": {"org.read", "org.user.read", "org.user.invite", "org.admin"}}

// call sends a request; a failed connection (the service was killed) is
// status 0: an unknown outcome.
func call(url, method, path, tok string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := http.Client{Timeout: 10 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// acknowledged records every command the service answered with a 2xx.
type acknowledged struct {
	mu        sync.Mutex
	created   []invitation
	accepted  map[string]string // invitation id -> user
	cancelled map[string]bool
}

type invitation struct{ id, email, token string }

func (a *acknowledged) pick(rng *rand.Rand) (invitation, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.created) == 0 {
		return invitation{}, false
	}
	return a.created[rng.IntN(len(a.created))], true
}

// mixedLoad runs commands from workers until total have been sent in all,
// counting through sent (shared across service restarts).
func mixedLoad(t *testing.T, url string, ack *acknowledged, sent *atomic.Int64, total int64, seed uint64) {
	adminToken := token(t, "admin", "admin@example.com", admin)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for sent.Add(1) <= total {
				inv, ok := ack.pick(rng)
				op := rng.IntN(10)
				if !ok {
					op = 0
				}
				switch {
				case op < 4:
					email := fmt.Sprintf("user%d@example.com", rng.IntN(400))
					status, body := call(url, "POST", api+"/acme/invitations", adminToken, map[string]any{"emails": []string{email}})
					if status == http.StatusCreated {
						got := body["invitations"].([]any)[0].(map[string]any)
						ack.mu.Lock()
						ack.created = append(ack.created, invitation{got["id"].(string), email, got["token"].(string)})
						ack.mu.Unlock()
					}
				case op < 7:
					user := "u-" + inv.email
					status, _ := call(url, "POST", api+"/acme/invitations/"+inv.id+"/accept", token(t, user, inv.email, nil), nil)
					if status == http.StatusOK {
						ack.mu.Lock()
						ack.accepted[inv.id] = user
						ack.mu.Unlock()
					}
				case op < 9:
					if status, _ := call(url, "DELETE", api+"/acme/invitations/"+inv.id, adminToken, nil); status == http.StatusNoContent {
						ack.mu.Lock()
						ack.cancelled[inv.id] = true
						ack.mu.Unlock()
					}
				default:
					call(url, "POST", api+"/acme/invitations/"+inv.id+"/resend", adminToken, nil)
				}
			}
		})
	}
	wg.Wait()
}

// TestKillDuringLoad kills the service with SIGKILL in the middle of mixed
// concurrent commands, restarts it on the same data, and checks that every
// acknowledged command survived, in the stream and in the read models, and
// that the invariants hold over the whole stream.
func TestKillDuringLoad(t *testing.T) {
	total := int64(5000)
	if *long {
		total = 20000
	}
	dataDir := t.TempDir()
	redisURL := testkit.Redis(t)
	natsAddr := testkit.FreeAddr(t)
	args := []string{"--data-dir", dataDir, "--redis-url", redisURL, "--redis-prefix", "crash:", "--nats-listen", natsAddr}
	svc := startService(t, args...)
	expectStatus(t, http.StatusCreated, svc.url, "PUT", api+"/acme", token(t, "admin", "", admin), map[string]any{"name": "Acme"})

	ack := &acknowledged{accepted: map[string]string{}, cancelled: map[string]bool{}}
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		mixedLoad(t, svc.url, ack, &sent, total, 1)
	}()
	for sent.Load() < total/2 {
		time.Sleep(10 * time.Millisecond)
	}
	svc.kill()
	<-done
	t.Logf("killed after %d commands; %d creates acknowledged", total/2, len(ack.created))

	svc = startService(t, args...)
	sent.Store(total / 2)
	mixedLoad(t, svc.url, ack, &sent, total, 2)

	adminToken := token(t, "admin", "", admin)
	for _, inv := range ack.created {
		status, body := call(svc.url, "GET", api+"/acme/invitations/"+inv.id, adminToken, nil)
		if status != http.StatusOK {
			t.Fatalf("acknowledged invitation %s: %d", inv.id, status)
		}
		if user, ok := ack.accepted[inv.id]; ok && (body["status"] != "accepted" || body["accepted_by"] != user) {
			t.Fatalf("acknowledged accept of %s reads %v", inv.id, body)
		}
		if ack.cancelled[inv.id] && body["status"] != "cancelled" {
			t.Fatalf("acknowledged cancel of %s reads %v", inv.id, body)
		}
	}
	members := map[string]bool{}
	for path := api + "/acme/members?limit=100"; path != ""; {
		_, body := call(svc.url, "GET", path, adminToken, nil)
		for _, m := range body["members"].([]any) {
			members[m.(map[string]any)["user_id"].(string)] = true
		}
		path, _ = body["links"].(map[string]any)["next"].(string)
	}
	for id, user := range ack.accepted {
		if !members[user] {
			t.Fatalf("user %s accepted %s but is not a member", user, id)
		}
	}
	// As the auditor, with the seed the service keeps in its data directory.
	auditor := eventstore.Credentials{NKeyFile: eventstore.SeedFile(filepath.Join(dataDir, "nats"), eventstore.RoleAuditor)}
	checkInvariants(t, "nats://"+natsAddr, auditor, testkit.KeysIn(t, filepath.Join(dataDir, "signing")), len(members))
}

func expectStatus(t *testing.T, want int, url, method, path, tok string, body any) {
	t.Helper()
	if status, got := call(url, method, path, tok, body); status != want {
		t.Fatalf("%s %s: %d, want %d: %v", method, path, status, want, got)
	}
}

// checkInvariants reads the whole organization from the stream: at most one
// accepted event per invitation, no accept after a cancel, at most one
// membership per user at a time, at most one pending invitation per email.
func checkInvariants(t *testing.T, natsURL string, creds eventstore.Credentials, keys eventstore.Keys, activeMembers int) {
	t.Helper()
	opts, err := creds.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	store, err := eventstore.New(nc, keys)
	if err != nil {
		t.Fatal(err)
	}
	events, err := store.OrganizationEvents(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	invitations := map[string]*domain.Invitation{}
	member := map[string]bool{}
	for _, e := range events {
		switch d := e.Data.(type) {
		case domain.InvitationCreated:
			invitations[d.InvitationID] = &domain.Invitation{}
		case domain.InvitationAccepted:
			inv := invitations[d.InvitationID]
			if !inv.AcceptedAt.IsZero() || !inv.CancelledAt.IsZero() {
				t.Fatalf("event %d accepts invitation %s, already accepted or cancelled", e.Sequence, d.InvitationID)
			}
		case domain.MembershipAdded:
			if member[d.UserID] {
				t.Fatalf("event %d adds %s, already a member", e.Sequence, d.UserID)
			}
			member[d.UserID] = true
		case domain.MembershipRemoved:
			member[d.UserID] = false
		}
		if inv, ok := invitations[domain.StreamOf(e.Data).Key]; ok && domain.StreamOf(e.Data).Kind == domain.KindInvitation {
			inv.Apply(e.Event)
		}
	}
	pending := map[string]int{}
	for _, inv := range invitations {
		if inv.StatusAt(time.Now()) == domain.StatusPending {
			// Read as the auditor, without the key-encryption key: the
			// keyed identifier stands for the sealed address.
			if pending[inv.EmailHMAC]++; inv.EmailHMAC == "" || pending[inv.EmailHMAC] > 1 {
				t.Fatalf("two pending invitations for %q, or one without its keyed identifier", inv.EmailHMAC)
			}
		}
	}
	active := 0
	for _, m := range member {
		if m {
			active++
		}
	}
	if active != activeMembers {
		t.Fatalf("the stream has %d members, the read model %d", active, activeMembers)
	}
	t.Logf("%d events, %d invitations, %d members: invariants hold", len(events), len(invitations), active)
}
