package service_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

// TestReplicas runs two replicas on one NATS and one Redis: a write on one
// is visible on the other as soon as it is answered, and stopping a replica
// at any moment leaves the other serving everything.
func TestReplicas(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	redisURL := testkit.Redis(t)
	// One signing key for both, as replicas must share (or list each other's public keys).
	key := testkit.KeyFile(t)
	kek := testkit.KEKFile(t) // and one key-encryption key
	shared := func(c *service.Config) {
		c.NATSURL = ns.ClientURL()
		c.RedisPrefix = "replicas:"
		c.SigningKey, c.KEKFile = key, kek
	}
	a := startStack(t, redisURL, shared)
	b := startStack(t, redisURL, shared)
	a.register("acme")

	for i := range 20 {
		inv := a.invite(fmt.Sprintf("ryw%d@example.com", i))[0]
		// Read your writes on the other replica, with no wait in between.
		expect(t, b.do("GET", api+"/invitations/"+inv["token"].(string), "", nil), http.StatusOK)
		expect(t, b.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", b.invitee(fmt.Sprint("user-", i), inv["email"].(string)), nil), http.StatusOK)
		if got := a.do("GET", api+"/acme/invitations/"+inv["id"].(string), a.admin, nil); got.str("status") != "accepted" {
			t.Fatalf("replica a reads %s after b accepted", got.str("status"))
		}
	}

	// Stop a in the middle of a stream of writes on both.
	var wg sync.WaitGroup
	var created sync.Map
	for w := range 4 {
		wg.Go(func() {
			s := b
			if w%2 == 0 {
				s = a
			}
			for i := range 15 {
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				r := s.doQuiet("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{email}})
				if r.status == http.StatusCreated {
					created.Store(r.list("invitations")[0]["id"].(string), true)
				}
			}
		})
	}
	a.stop()
	wg.Wait()
	// Every invitation that was answered 201 by either replica is served by b.
	created.Range(func(id, _ any) bool {
		expect(t, b.do("GET", api+"/acme/invitations/"+id.(string), b.admin, nil), http.StatusOK)
		return true
	})
	expect(t, b.do("POST", api+"/acme/invitations", b.admin, map[string]any{"emails": []string{"after@example.com"}}), http.StatusCreated)
}
